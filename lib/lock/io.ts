/**
 * Reading and writing models.lock.json: validated on the way in and on the
 * way out, written deterministically (stableStringify) and atomically
 * (writeFileAtomic), so a refused write leaves the file byte-identical.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ProjectError } from '../errors.ts';
import { writeFileAtomic } from '../fs.ts';
import { stableStringify } from '../json.ts';
import { parseJsonText } from './json-text.ts';
import { validateLock } from './schema.ts';
import type { Lock } from './types.ts';

/** The file name scripts use by default, in the repository root. */
export const LOCK_FILE_NAME = 'models.lock.json';

/** A lock with no models. */
export function emptyLock(): Lock {
  return { lockfileVersion: 1, models: {} };
}

/** Parse and validate lock text; `what` (a path, or `git:<ref>:models.lock.json`) names it in messages. */
export function parseLockText(text: string, what: string): Lock {
  return validateLock(parseJsonText(text, what), what);
}

/** The exact bytes of a lock file: sorted keys, 2-space indent, trailing newline. Validates first. */
export function serializeLock(lock: Lock, what = 'lock'): string {
  return stableStringify(validateLock(lock, what));
}

/** Read a file's text; a missing file is NOT_FOUND with a hint to create it. */
export async function readLockText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new ProjectError('NOT_FOUND', `${path}: no such lock file`, {
        subject: path,
        cause: e,
        hint: 'create an empty one with `npm run -s lock -- init`, or pass --lock <path>',
      });
    }
    throw new ProjectError('INVALID', `${path}: cannot read (${err.code ?? err.message})`, {
      subject: path,
      cause: e,
    });
  }
}

/** Read, parse and validate a lock file (schema and cross-checks). */
export async function readLock(path: string): Promise<Lock> {
  return parseLockText(await readLockText(path), path);
}

/**
 * Validate and write a lock atomically. Prefer {@link updateLock} for a
 * read-modify-write: it also guards against concurrent writers.
 */
export async function writeLock(path: string, lock: Lock): Promise<void> {
  await writeFileAtomic(path, serializeLock(lock, path));
}

/** Create an empty lock file; CONFLICT when one exists already (never overwrites). */
export async function initLock(path: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.init`);
  await writeFileAtomic(tmp, serializeLock(emptyLock(), path));
  try {
    // link() fails with EEXIST atomically: the file appears whole or not at all.
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ProjectError('CONFLICT', `${path} exists already; not overwriting it`, {
        subject: path,
        cause: e,
      });
    }
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}
