/**
 * Read-modify-write of a lock (models.lock.json and models.lock.d/), safe
 * against concurrent writers: an exclusive lock file (`<lock>.lock`, created
 * with O_EXCL) serialises cooperating writers, who wait their turn and apply
 * on top of each other; a change made to the index on disk by anything else
 * between read and write (an editor, a git checkout) is detected by sha256
 * and refused with CONFLICT, and a new version file is created only where
 * none exists (versions are immutable).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Clock, sleep } from '../platform/clock.ts';
import { sha256 } from '../platform/digest.ts';
import { ProjectError } from '../platform/errors.ts';
import { fileTree, writeFileAtomic } from '../platform/fs.ts';
import { lockFiles, parseLockFiles, readLockTexts, versionsDirOf } from './files.ts';
import { writeVersionFile } from './io.ts';
import { addCandidate, appendOnlyProblems, versionWithRoot } from './mutate.ts';
import { validateLock } from './schema.ts';
import type { Lock, LockedVersion } from './types.ts';

export interface UpdateLockOptions extends Partial<Clock> {
  /** How long to wait for another writer's lock file, in ms (default 15 000; 0: do not wait). */
  waitMs?: number;
  /** A lock file older than this is left over from a crashed writer and is removed (default 60 000 ms). */
  staleMs?: number;
  /** Poll interval while waiting, in ms (default 50). */
  pollMs?: number;
}

export interface LockUpdateResult {
  before: Lock;
  after: Lock;
  /** False when `fn` returned a lock with the same bytes: nothing was written. */
  changed: boolean;
}

/** The path of the exclusive lock file guarding `lockPath`. */
export const lockFileOf = (lockPath: string): string => `${lockPath}.lock`;

async function describeHolder(path: string): Promise<string> {
  try {
    const h = JSON.parse(await readFile(path, 'utf8')) as { pid?: number; host?: string; at?: string };
    return `pid ${h.pid} on ${h.host}, since ${h.at}`;
  } catch {
    return 'unknown holder';
  }
}

/** Take the exclusive lock file; returns a release function. */
async function acquire(lockPath: string, o: Required<UpdateLockOptions>): Promise<() => Promise<void>> {
  const path = lockFileOf(lockPath);
  const token = randomBytes(8).toString('hex');
  const deadline = o.now() + o.waitMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(
          JSON.stringify({ pid: process.pid, host: hostname(), at: new Date(o.now()).toISOString(), token }),
        );
      } finally {
        await fh.close();
      }
      return async () => {
        // Remove it only while it is still ours (a stale-lock breaker may have taken over).
        const text = await readFile(path, 'utf8').catch(() => '');
        if (text.includes(token)) await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = await stat(path).catch(() => undefined);
    if (st && o.now() - st.mtimeMs > o.staleMs) {
      // Rename first: of several breakers, exactly one wins the rename.
      const aside = `${path}.stale.${token}`;
      if (
        await rename(path, aside).then(
          () => true,
          () => false,
        )
      )
        await rm(aside, { force: true });
      continue;
    }
    if (o.now() >= deadline) {
      throw new ProjectError(
        'CONFLICT',
        `${lockPath} is being written by another process (lock file ${path}: ${await describeHolder(path)}); waited ${o.waitMs} ms`,
        {
          subject: lockPath,
          hint: `retry; if no writer is running, remove ${path} (it counts as stale after ${o.staleMs} ms)`,
        },
      );
    }
    await o.sleep(o.pollMs);
  }
}

/**
 * Read the lock at `path`, apply `fn`, validate, and write the result
 * atomically, under the exclusive lock file. Refused (file untouched):
 * an invalid result (INVALID), a result that edits or removes versions or
 * promotion records (INVALID: the lock is append-only), another writer
 * holding the lock longer than `waitMs` (CONFLICT), and a file changed on
 * disk between read and write (CONFLICT: retry).
 */
export async function updateLock(
  path: string,
  fn: (lock: Lock) => Lock | Promise<Lock>,
  options: UpdateLockOptions = {},
): Promise<LockUpdateResult> {
  const o: Required<UpdateLockOptions> = {
    waitMs: 15_000,
    staleMs: 60_000,
    pollMs: 50,
    sleep,
    now: Date.now,
    ...options,
  };
  const release = await acquire(path, o);
  try {
    const { index: text, versions: versionTexts } = await readLockTexts(fileTree, path);
    const dir = versionsDirOf(path);
    const before = parseLockFiles(path, text, versionTexts);
    const after = validateLock(await fn(structuredClone(before)), `${path} (after the update)`);
    const out = lockFiles(after, path);
    const problems = appendOnlyProblems(before, after);
    if (problems.length > 0) {
      throw new ProjectError(
        'INVALID',
        `refusing to write ${path}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
        {
          subject: path,
          hint: 'versions are immutable and promotions append-only: add a new version or pin instead',
        },
      );
    }
    const had = new Set(Object.keys(versionTexts).map((rel) => join(dir, rel)));
    const added = Object.keys(out).filter((f) => f !== path && !had.has(f));
    const indexChanged = out[path] !== text;
    if (added.length === 0 && !indexChanged) return { before, after, changed: false };
    if (indexChanged) {
      const now = await readFile(path).catch(() => undefined);
      if (!now || sha256(now) !== sha256(text as string)) {
        throw new ProjectError(
          'CONFLICT',
          `${path} changed on disk while it was being updated; nothing was written`,
          {
            subject: path,
            hint: 'retry the command: it will apply on top of the new content',
          },
        );
      }
    }
    // Versions first: the index never names a version whose file is not there yet.
    for (const file of added) await writeVersionFile(file, out[file] as string);
    if (indexChanged) await writeFileAtomic(path, out[path] as string);
    return { before, after, changed: true };
  } finally {
    await release();
  }
}

/**
 * Add `entry` as a candidate of `model` unless the lock already holds its
 * artifact (same root digest): the step a push race re-applies on a moved
 * branch. Resolves with the version added, or undefined when it was there.
 */
export async function addCandidateOnce(
  lockPath: string,
  model: string,
  entry: LockedVersion,
  options?: UpdateLockOptions,
): Promise<string | undefined> {
  let added: string | undefined;
  await updateLock(
    lockPath,
    (lock) => {
      if (versionWithRoot(lock, model, entry.rootDigest)) return lock;
      const r = addCandidate(lock, { model, entry });
      added = r.version;
      return r.lock;
    },
    options,
  );
  return added;
}
