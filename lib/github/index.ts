/**
 * GitHub in CI: the Actions context, PR comments (upserted by a hidden
 * marker), pull requests and repository_dispatch, the job summary, git
 * commit + push with rebase retries, the comparison report, and the two CI
 * flows built from them: training for a pull request and retraining.
 * See docs/ci-training.md.
 */

export {
  type AlertmanagerWebhook,
  type AlertRelayOptions,
  createAlertRelay,
  DRIFT_ALERTS,
  DRIFT_EVENT_TYPE,
  dispatchFor,
  type RelayOutcome,
} from './alert-relay.ts';
export { apiError, type GithubApi, type Octokit, octokitFor } from './client.ts';
export {
  trainCommentMarker,
  type UpsertCommentInput,
  type UpsertCommentResult,
  upsertComment,
} from './comment.ts';
export {
  type PullRequestContext,
  type RepoContext,
  readPullRequestContext,
  readRepoContext,
} from './context.ts';
export {
  BOT_EMAIL,
  BOT_NAME,
  commitAndPush,
  type GitResult,
  type GitRunner,
  gitRunner,
  isPushRace,
  type PublishOptions,
  type PublishResult,
} from './git.ts';
export {
  type OpenedPullRequest,
  type OpenPullRequestInput,
  openPullRequest,
  sendRepositoryDispatch,
} from './pulls.ts';
export {
  type ComparisonInput,
  comparisonMarkdown,
  formatDelta,
  formatValue,
  type MetricsJson,
  type ReportLink,
  type ReportSide,
} from './report.ts';
export {
  compareWithPinned,
  type GateCheck,
  type RetrainOptions,
  type RetrainResult,
  retrain,
  retrainBranchName,
} from './retrain.ts';
export { candidateSide, pinnedSide, type TrackingLinks, trackingLinks } from './sides.ts';
export { appendJobSummary } from './summary.ts';
export {
  candidateCommitMessage,
  type TrainPullRequestOptions,
  type TrainPullRequestResult,
  trainForPullRequest,
} from './train-pr.ts';
