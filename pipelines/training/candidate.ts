/**
 * A trained candidate into the lock, the one way every path does it: training
 * on the runner (trainAndRecord), the Kubernetes Job's result read back by the
 * submitter (scripts/train.ts --on kubernetes), and the commit that carries it
 * to a branch (ci:train for a pull request, retrain). The candidate is a new
 * version file (lock, content-addressed id), so its id never changes on
 * the way and a push race on the branch rebases cleanly.
 */
import { relative, resolve } from 'node:path';
import {
  addCandidateOnce,
  type LockedVersion,
  lockPaths,
  readLock,
  validateVersionEntry,
  versionIdOf,
  versionWithRoot,
} from '../../lock/index.ts';
import { localDirOf } from '../../platform/artifact-store/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import { commitAndPush, type GitRunner, type PublishResult } from '../../platform/git/index.ts';
import { compileValidator } from '../../platform/schema.ts';

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
  /** More files committed with the candidate (paths relative to the working tree): the retrain's new data pointer. */
  extraPaths?: string[];
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
  log?: (line: string) => void;
}

/**
 * Commit the candidate's version file and push it to `branch`. A push race is
 * rebased (another candidate is another file: no conflict); should the result
 * lack the candidate, it is added again on the moved branch (platform/git commitAndPush).
 */
export async function publishCandidate(o: PublishCandidateOptions): Promise<PublishResult> {
  const lockPath = resolve(o.git.cwd, o.lockPath);
  const lockRel = relative(o.git.cwd, lockPath);
  return commitAndPush({
    git: o.git,
    branch: o.branch,
    paths: [...lockPaths(lockRel), ...(o.extraPaths ?? [])],
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

/** What a training Job reports (scripts/train.ts writes it to the termination message and the last log line). */
export interface JobCandidate {
  model: string;
  entry: LockedVersion;
}

const validateJobResult = compileValidator<JobCandidate>({
  type: 'object',
  required: ['model', 'entry'],
  properties: { model: { type: 'string', minLength: 1 }, entry: { type: 'object' } },
});

/**
 * Add the candidate a training Job reported to the lock at `lockPath`, exactly
 * as training on the runner does ({@link lockCandidate}). Its artifact must be
 * where the lock's readers can fetch it (the MLflow artifact proxy, or http):
 * a run that stayed in the pod's local store is refused, since its files went
 * with the pod.
 */
export async function lockJobCandidate(
  lockPath: string,
  result: Record<string, unknown> | undefined,
  what: string,
  log?: (line: string) => void,
): Promise<{ model: string; version: string; entry: LockedVersion }> {
  if (!result) {
    throw new ProjectError('INVALID', `${what} reported no result: nothing to add to ${lockPath}`, {
      subject: what,
      hint: 'read the Job logs; the trainer prints its result as the last JSON line',
    });
  }
  const { model, entry: raw } = validateJobResult(result, `the result of ${what}`);
  const entry = validateVersionEntry(raw, `the lock entry ${what} reported`);
  if (localDirOf(entry.artifactUri) !== undefined) {
    throw new ProjectError(
      'INVALID',
      `${what}: the run's artifact stayed in the pod (${entry.artifactUri}): the Job did not reach the MLflow server, so nothing can be locked`,
      {
        subject: what,
        hint: 'set MLFLOW_TRACKING_URI (and the mlflow-credentials secret) in manifests/training-job, then train again',
      },
    );
  }
  return { model, version: await lockCandidate(lockPath, model, entry, log), entry };
}
