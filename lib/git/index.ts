/**
 * Git, run through `git` itself: a runner for one working tree, commits of
 * exact paths, and a push that survives push races (rebase, or re-apply the
 * change on the moved branch).
 */
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
} from './publish.ts';
export {
  BOT_IDENTITY,
  commitPaths,
  currentBranch,
  dirtyPaths,
  type Git,
  gitAt,
  isPushRejected,
} from './runner.ts';
