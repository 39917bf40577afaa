/**
 * Reading and writing a lock (models.lock.json and its version files,
 * ./files.ts): validated on the way in and on the way out, written
 * deterministically (stableStringify) and atomically (writeFileAtomic), so a
 * refused write leaves every file byte-identical.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ProjectError } from '../platform/errors.ts';
import { fileTree, writeFileAtomic } from '../platform/fs.ts';
import { lockFiles, readLockFrom, versionsDirOf } from './files.ts';
import type { Lock } from './types.ts';

/** The file name scripts use by default, in the repository root. */
export const LOCK_FILE_NAME = 'models.lock.json';

/** A lock with no models. */
export function emptyLock(): Lock {
  return { lockfileVersion: 2, models: {} };
}

/** Read, parse and validate a lock (its index and version files; schema and cross-checks). */
export async function readLock(path: string): Promise<Lock> {
  return readLockFrom(fileTree, path);
}

/**
 * Create `path` with `text` unless it exists: atomically (a temp file linked
 * into place, so it appears whole or not at all). Resolves false when a file
 * is there already (left as it was).
 */
export async function createFileOnce(path: string, text: string): Promise<boolean> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.new`);
  await writeFileAtomic(tmp, text);
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Write a version file that must not exist yet, or exist with exactly this
 * text (the same candidate added twice): versions are immutable, so a
 * different file under the same name is a CONFLICT and is left alone.
 */
export async function writeVersionFile(path: string, text: string): Promise<void> {
  if (await createFileOnce(path, text)) return;
  const there = await readFile(path, 'utf8').catch(() => undefined);
  if (there === text) return;
  throw new ProjectError('CONFLICT', `${path} exists with other content; a version file is never rewritten`, {
    subject: path,
    hint: 'versions are immutable: restore the file from git, or add the artifact as a new version',
  });
}

/**
 * Validate and write a lock: every version file that is not there yet, then
 * the index (so the index never names a version whose file is missing).
 * Version files of versions not in `lock` are removed. Prefer
 * {@link updateLock} for a read-modify-write: it also guards against
 * concurrent writers and refuses edits of existing versions.
 */
export async function writeLock(path: string, lock: Lock): Promise<void> {
  const files = lockFiles(lock, path);
  for (const [file, text] of Object.entries(files)) {
    if (file !== path) await writeFileAtomic(file, text);
  }
  const dir = versionsDirOf(path);
  for (const rel of await fileTree.list(dir)) {
    if (!rel.split('/').some((s) => s.startsWith('.')) && files[join(dir, rel)] === undefined) {
      await rm(join(dir, rel), { force: true });
    }
  }
  await writeFileAtomic(path, files[path] as string);
}

/** Create an empty lock file; CONFLICT when one exists already (never overwrites). */
export async function initLock(path: string): Promise<void> {
  if (!(await createFileOnce(path, lockFiles(emptyLock(), path)[path] as string))) {
    throw new ProjectError('CONFLICT', `${path} exists already; not overwriting it`, { subject: path });
  }
}
