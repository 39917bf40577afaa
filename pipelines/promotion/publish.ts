/**
 * The git side of a move: before it, refuse to start over uncommitted
 * changes to the files it writes; after it, commit the lock and the pin
 * file, and with push, push them, redoing the move on top of the moved
 * branch on a push race (platform/git commitAndPush: the lock and the pin
 * file are generated, never merged as text).
 */

import type { Lock } from '../../lock/index.ts';
import { readLock } from '../../lock/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import {
  commitAndPush,
  commitPaths,
  currentBranch,
  dirtyPaths,
  type GitRunner,
  gitRunner,
  tokenFromEnv,
} from '../../platform/git/index.ts';
import type { PromotionContext } from './context.ts';
import { commitMessage } from './messages.ts';
import type { PromoteResult } from './move.ts';

/** A checkout a move commits to: its runner, the branch it pushes, the files of the commit. */
export interface GitSession {
  git: GitRunner;
  /** The branch pushed (with push only). */
  branch: string;
  paths: string[];
}

/** What a move does again on a push race. */
export interface Redo {
  /** Move the pin again on the moved branch (the same version; digests not fetched again). */
  reapply: () => Promise<PromoteResult>;
  /** The gates of the move on `lock`, after a rebase kept the pin (throws GATE_FAILED). */
  recheck: (lock: Lock) => Promise<void>;
}

/**
 * With commit: the git session of the move, after checking that `paths`
 * have no uncommitted change (a promotion commit holds only its own);
 * without: undefined.
 */
export async function openGit(ctx: PromotionContext, paths: string[]): Promise<GitSession | undefined> {
  if (ctx.git.push && !ctx.git.commit) throw new ProjectError('USAGE', '--push needs --commit');
  if (!ctx.git.commit) return undefined;
  // A push authenticates with GITHUB_TOKEN from the step (promote.yml: the promotion App's token), never .git/config.
  const git = gitRunner(ctx.root, { env: ctx.git.env, ...tokenFromEnv(ctx.git.env) });
  const dirty = await dirtyPaths(git, paths);
  if (dirty.length) {
    throw new ProjectError(
      'INVALID',
      `uncommitted changes to ${dirty.join(', ')}: a promotion commit holds only its own change`,
      { subject: dirty[0], hint: 'commit or discard those changes first, then promote again' },
    );
  }
  return { git, branch: ctx.git.push ? await currentBranch(git) : '', paths };
}

/** Commit the move `first` (and with push, push it, redoing it on a push race); the result with its commit. */
export async function publishMove(
  s: GitSession,
  first: PromoteResult,
  ctx: PromotionContext,
  redo: Redo,
): Promise<PromoteResult> {
  const { remote, env } = ctx.git;
  if (!ctx.git.push) {
    first.commit = await commitPaths(s.git, s.paths, commitMessage(first), env);
    ctx.print(`committed ${first.commit.slice(0, 12)}: ${commitMessage(first).split('\n')[0]}\n`);
    return first;
  }
  let result = first;
  const published = await commitAndPush({
    git: s.git,
    remote,
    branch: s.branch,
    paths: s.paths,
    message: commitMessage(first),
    env,
    maxAttempts: ctx.git.maxPushAttempts ?? 5,
    backoffMs: ctx.git.pushBackoffMs ?? 200,
    // The lock and the pin file are generated: on a push race the promotion is
    // redone on the moved branch (gates re-checked on its lock), never merged as text.
    regenerate: true,
    reapply: async () => {
      ctx.print(`push rejected: ${remote} ${s.branch} moved; applying the promotion on top of it again\n`);
      result = { ...(await redo.reapply()), gates: first.gates };
      return result.changed ? commitMessage(result) : undefined;
    },
    // Local commits besides the promotion were rebased: the pin must still be there, its gates still pass.
    validate: async () => {
      const lock = await readLock(ctx.lockPath);
      if (lock.models[result.model]?.pins[result.env] !== result.version) {
        throw new ProjectError(
          'CONFLICT',
          `after rebasing onto ${remote}/${s.branch}, ${result.env} no longer pins ${result.model} version ${result.version}`,
          { subject: s.branch, hint: 'run the promotion again' },
        );
      }
      await redo.recheck(lock);
    },
    log: (line) => ctx.print(`${line}\n`),
  });
  result.pushAttempts = published.attempts;
  // Redone on the moved branch and found there already: nothing was committed or pushed.
  if (!result.changed) return result;
  result.commit = published.commit;
  result.pushed = true;
  ctx.print(`committed ${result.commit.slice(0, 12)}: ${published.message.split('\n')[0]}\n`);
  ctx.print(`pushed to ${remote} ${s.branch}\n`);
  return result;
}
