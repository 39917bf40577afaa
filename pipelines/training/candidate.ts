/**
 * A trained candidate into the lock, the one way every path does it: training
 * on the runner (trainAndRecord), the Kubernetes Job's result read back by the
 * submitter (scripts/train.ts --on kubernetes), and the commit that carries it
 * to a branch (train:ci for a pull request, retrain). The candidate is a new
 * version file (lib/lock, content-addressed id), so its id never changes on
 * the way and a push race on the branch rebases cleanly.
 */
import { relative, resolve } from 'node:path';
import { commitAndPush, type GitRunner, type PublishResult } from '../../lib/git/index.ts';
import {
  addCandidateOnce,
  type LockedVersion,
  lockPaths,
  readLock,
  versionIdOf,
  versionWithRoot,
} from '../../lib/lock/index.ts';

/**
 * Add `entry` to the lock at `lockPath` as a version of `model` (under the
 * lock's exclusive lock file); already there (the same artifact): nothing is
 * written. Resolves with its version id.
 */
export async function lockCandidate(
  lockPath: string,
  model: string,
  entry: LockedVersion,
  log: (line: string) => void = () => {},
): Promise<string> {
  const added = await addCandidateOnce(resolve(lockPath), model, entry);
  const version = versionIdOf(entry.rootDigest);
  log(
    added
      ? `lock: added ${model} version ${version} to ${lockPath}`
      : `lock: ${model} version ${version} is in ${lockPath} already`,
  );
  return version;
}

export interface PublishCandidateOptions {
  git: GitRunner;
  branch: string;
  /** The lock (its index path); the candidate's version file is committed. */
  lockPath: string;
  model: string;
  entry: LockedVersion;
  message: string;
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
  log?: (line: string) => void;
}

/**
 * Commit the candidate's version file and push it to `branch`. A push race is
 * rebased (another candidate is another file: no conflict); should the result
 * lack the candidate, it is added again on the moved branch (lib/git commitAndPush).
 */
export async function publishCandidate(o: PublishCandidateOptions): Promise<PublishResult> {
  const lockPath = resolve(o.git.cwd, o.lockPath);
  const lockRel = relative(o.git.cwd, lockPath);
  return commitAndPush({
    git: o.git,
    branch: o.branch,
    paths: lockPaths(lockRel),
    message: o.message,
    validate: async () => {
      if (!versionWithRoot(await readLock(lockPath), o.model, o.entry.rootDigest)) {
        throw new Error(`${lockRel} lost the candidate`);
      }
    },
    reapply: async () => {
      const added = await addCandidateOnce(lockPath, o.model, o.entry);
      if (added !== undefined) o.log?.(`lock: re-added ${o.model} version ${added} on top of ${o.branch}`);
      return added === undefined ? undefined : o.message;
    },
    ...o.push,
    log: o.log,
  });
}
