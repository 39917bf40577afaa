/**
 * check-provenance of a pull request as git holds it: the lock at the merge
 * base of the base branch and the head, against the head's lock (a commit's,
 * read as data, or the lock file of a working tree). One function for the
 * two callers: `npm run lock -- check-provenance` (provenance.yml) and the
 * publish job of train.yml, which re-checks the entry the train job handed
 * over before it commits it (pipelines/training/publish-pr.ts). Signatures
 * are checked against the signing policy of the merge base.
 */
import { basename, dirname } from 'node:path';
import { parseSigningPolicy, SIGNING_POLICY_PATH } from '../model/signing/policy.ts';
import { ProjectError } from '../platform/errors.ts';
import { gitRunner, treeSource } from '../platform/git/index.ts';
import { parseJsonText } from '../platform/json-text.ts';
import { parseLockFiles, readLockTexts } from './files.ts';
import { emptyLock, readLock } from './io.ts';
import { checkProvenance, type ProvenanceOptions, type ProvenanceReport } from './provenance.ts';
import type { Lock } from './types.ts';

/** The lock (index and version files) at commit `ref` of the repository holding `lockPath`; empty when it had none yet. */
export async function readLockAt(lockPath: string, ref: string): Promise<Lock> {
  const { index, versions } = await readLockTexts(treeSource(gitRunner(dirname(lockPath)), ref), lockPath);
  // The lock did not exist yet at that commit: everything in the other lock is new.
  if (index === undefined && Object.keys(versions).length === 0) return emptyLock();
  return parseLockFiles(`git:${ref}:${basename(lockPath)}`, index, versions);
}

/** The merge base of `base` and `tip` in the repository at `dir`; NOT_FOUND (fetch the history) without one. */
export async function mergeBase(dir: string, base: string, tip: string): Promise<string> {
  const fork = await gitRunner(dir).tryRun(['merge-base', base, tip]);
  if (fork.code !== 0) {
    throw new ProjectError(
      'NOT_FOUND',
      `no merge base of ${base} and ${tip}: ${fork.stderr.trim().split('\n')[0] || `exit ${fork.code}`}`,
      {
        subject: base,
        hint: 'fetch both commits with their history (actions/checkout fetch-depth: 0)',
      },
    );
  }
  return fork.stdout.trim();
}

export interface ProvenanceAtOptions extends Omit<ProvenanceOptions, 'lockDir' | 'signing'> {
  /** The lock in a git working tree: git runs in its folder, relative artifact URIs resolve there. */
  lockPath: string;
  /** The base branch (a ref or a commit); the base lock is the one at its merge base with the head. */
  base: string;
  /** A commit whose lock is checked, read from git; without it, the lock file as the working tree has it. */
  head?: string;
  /** Every added version must carry a signature the base's signing policy accepts (docs/signing.md). */
  requireSignatures?: boolean;
}

/**
 * The signing check: the policy as the merge base has it (a pull request
 * cannot trust a key it adds itself). A base without a policy checks no
 * signature, unless they are required.
 */
async function baseSigning(
  dir: string,
  base: string,
  require: boolean,
): Promise<Pick<ProvenanceOptions, 'signing'>> {
  const text = await treeSource(gitRunner(dir), base).read(SIGNING_POLICY_PATH);
  const where = `${SIGNING_POLICY_PATH} at ${base.slice(0, 12)}`;
  if (text === undefined) {
    if (!require) return {};
    throw new ProjectError('NOT_FOUND', `--require-signatures: the base has no ${SIGNING_POLICY_PATH}`, {
      subject: SIGNING_POLICY_PATH,
      hint: 'add the signing policy to the base branch first (docs/signing.md)',
    });
  }
  return { signing: { policy: parseSigningPolicy(parseJsonText(text, where), where), require } };
}

/** {@link checkProvenance} of the head's lock against the lock where it branched off `base`. */
export async function checkProvenanceAt(options: ProvenanceAtOptions): Promise<ProvenanceReport> {
  const { lockPath, base, head, requireSignatures, ...rest } = options;
  const lockDir = dirname(lockPath);
  const fork = await mergeBase(lockDir, base, head ?? 'HEAD');
  const baseLock = await readLockAt(lockPath, fork);
  const headLock = head ? await readLockAt(lockPath, head) : await readLock(lockPath);
  const signing = await baseSigning(lockDir, fork, requireSignatures === true);
  return checkProvenance(baseLock, headLock, { ...rest, lockDir, ...signing });
}
