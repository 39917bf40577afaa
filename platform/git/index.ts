/**
 * Git, run through `git` itself (platform/shell.ts): a runner for one working
 * tree, commits of exact paths, and a push that survives push races (rebase,
 * or re-apply the change on the moved branch).
 */
export { commitAndPush, type PublishOptions, type PublishResult } from './publish.ts';
export {
  BOT_EMAIL,
  BOT_NAME,
  commitPaths,
  currentBranch,
  dirtyPaths,
  type GitResult,
  type GitRunner,
  type GitRunnerOptions,
  gitRunner,
  identityArgs,
  isProtectedBranchRefusal,
  isPushRace,
  tokenFromEnv,
} from './runner.ts';
export { treeSource } from './tree.ts';
