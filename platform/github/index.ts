/**
 * GitHub in CI: the Actions context, PR comments (upserted by a hidden
 * marker), pull requests and workflow_dispatch, the job summary and step
 * outputs, and the training gate (who may train on the self-hosted runner).
 * The flows built from them (training for a pull request, retraining) live
 * in pipelines/training. See docs/ci-training.md.
 */

export {
  type AnnotationTarget,
  annotateError,
  annotationOf,
  inActions,
  logGroup,
  maskSecrets,
} from './actions.ts';
export {
  type AuthorizeInput,
  authorizeTraining,
  TRAIN_LABEL,
  type TrainingAuthorization,
} from './authorize.ts';
export { apiError, type GithubApi, type Octokit, octokitFor } from './client.ts';
export {
  trainCommentMarker,
  type UpsertCommentInput,
  type UpsertCommentResult,
  upsertComment,
} from './comment.ts';
export {
  type ContextOptions,
  type PullRequestContext,
  type RepoContext,
  readPullRequestContext,
  readRepoContext,
} from './context.ts';
export {
  type OpenedPullRequest,
  type OpenPullRequestInput,
  openPullRequest,
  sendWorkflowDispatch,
} from './pulls.ts';
export { appendJobSummary, setOutputs } from './summary.ts';
