/**
 * The lock on disk (lockfileVersion 2, docs/lock-file.md):
 *
 *   models.lock.json                        the index: pins and promotions of each model
 *   models.lock.d/<model>/<version>.json    one file per version entry (immutable)
 *
 * Why two kinds of file: a pull request that trains adds a candidate, and two
 * pull requests from the same main each add one. In one JSON file both would
 * insert lines at the same place (the end of the `versions` object, with its
 * commas) and the second merge would conflict. As a new file named by its
 * content-addressed id, a candidate touches no line of any other file, so git
 * (and GitHub's server-side merge, which runs no custom merge driver) merges
 * the two branches cleanly by construction. Pins and promotions change only
 * on main, one promotion at a time (promote.yml's concurrency groups), so
 * they stay in the one index file that a promotion commit changes.
 *
 * Reading goes through a {@link FileTree} (the file system, or a git tree:
 * platform/git treeSource), so `lock diff git:<ref>` and the tests read a lock at
 * a commit with the same code as a checkout.
 */

import { basename, dirname, join } from 'node:path';
import { MODEL_NAME_PATTERN, VERSION_ID_PATTERN } from '../model/pin.ts';
import { ProjectError } from '../platform/errors.ts';
import type { FileTree } from '../platform/fs.ts';
import { stableStringify } from '../platform/json.ts';
import { parseJsonText } from '../platform/json-text.ts';
import { validateLock, validateLockIndex, validateVersionEntry } from './schema.ts';
import type { Lock, LockIndex } from './types.ts';

/** The folder of a lock's version files: `models.lock.json` → `models.lock.d`. */
export function versionsDirOf(lockPath: string): string {
  const name = basename(lockPath);
  const stem = name.endsWith('.json') ? name.slice(0, -'.json'.length) : name;
  return join(dirname(lockPath), `${stem}.d`);
}

/** The paths a lock occupies (the index and its versions folder): what git commits and checks for changes. */
export function lockPaths(lockPath: string): [string, string] {
  return [lockPath, versionsDirOf(lockPath)];
}

/** The path of one version file. */
export function versionFileOf(lockPath: string, model: string, version: string): string {
  return join(versionsDirOf(lockPath), model, `${version}.json`);
}

/**
 * The exact files of a lock, path → text (sorted keys, 2-space indent,
 * trailing newline): the index at `lockPath` and one file per version.
 * A model appears in the index only once it has a pin or a promotion, so that
 * the first candidate of a new model also adds a file and edits nothing.
 * Validates first.
 */
export function lockFiles(lock: Lock, lockPath = 'models.lock.json'): Record<string, string> {
  validateLock(lock, lockPath);
  const index: LockIndex = { lockfileVersion: 2, models: {} };
  const files: Record<string, string> = {};
  for (const [name, m] of Object.entries(lock.models)) {
    if (Object.keys(m.pins).length > 0 || m.promotions.length > 0) {
      index.models[name] = { pins: m.pins, promotions: m.promotions };
    }
    for (const [id, entry] of Object.entries(m.versions)) {
      files[versionFileOf(lockPath, name, id)] = stableStringify(entry);
    }
  }
  return { [lockPath]: stableStringify(index), ...files };
}

const modelRe = new RegExp(MODEL_NAME_PATTERN);
const versionRe = new RegExp(VERSION_ID_PATTERN);

/**
 * Parse a lock from its files' texts: `index` is models.lock.json's text (undefined:
 * no such file), `versions` maps `<model>/<id>.json` (relative to the versions
 * folder) to text. Every problem names its file.
 */
export function parseLockFiles(
  lockPath: string,
  index: string | undefined,
  versions: Record<string, string>,
): Lock {
  if (index === undefined) {
    throw new ProjectError('NOT_FOUND', `${lockPath}: no such lock file`, {
      subject: lockPath,
      hint: 'create an empty one with `npm run -s lock -- init`, or pass --lock <path>',
    });
  }
  const raw = parseJsonText(index, lockPath);
  const version = (raw as { lockfileVersion?: unknown } | null)?.lockfileVersion;
  if (version === 1) {
    throw new ProjectError(
      'INVALID',
      `${lockPath} is lockfileVersion 1 (every version inside the one file, numbered 1, 2, ...); this template reads lockfileVersion 2`,
      {
        subject: lockPath,
        hint: 'see docs/lock-file.md "From lockfileVersion 1": each version becomes models.lock.d/<model>/v<12 hex of its rootDigest>.json',
      },
    );
  }
  const parsed = validateLockIndex(raw, lockPath);
  const lock: Lock = { lockfileVersion: 2, models: {} };
  for (const [name, m] of Object.entries(parsed.models)) {
    lock.models[name] = { pins: m.pins, promotions: m.promotions, versions: {} };
  }
  const dir = versionsDirOf(lockPath);
  const problems: string[] = [];
  for (const rel of Object.keys(versions).sort()) {
    const parts = rel.split('/');
    const [model, file] = parts;
    const id = file?.endsWith('.json') ? file.slice(0, -'.json'.length) : '';
    if (parts.length !== 2 || !model || !modelRe.test(model) || !versionRe.test(id)) {
      problems.push(
        `${join(dir, rel)}: not a version file (expected ${dir}/<model>/<version>.json, the version being v and 12 hex digits)`,
      );
      continue;
    }
    const path = join(dir, rel);
    const entry = validateVersionEntry(parseJsonText(versions[rel] as string, path), path);
    lock.models[model] ??= { pins: {}, promotions: [], versions: {} };
    lock.models[model].versions[id] = entry;
  }
  if (problems.length > 0) {
    throw new ProjectError(
      'INVALID',
      `${dir} holds files that are not versions:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      {
        subject: dir,
        details: problems,
        hint: 'remove them: the folder holds only the version files lock writes',
      },
    );
  }
  return validateLock(lock, lockPath);
}

/** The texts of a lock's files as `source` has them: the index (undefined: none) and each version file. */
export async function readLockTexts(
  source: FileTree,
  lockPath: string,
): Promise<{ index: string | undefined; versions: Record<string, string> }> {
  const index = await source.read(lockPath);
  const dir = versionsDirOf(lockPath);
  const versions: Record<string, string> = {};
  // Dot files are temporary files of a writer (platform/fs writeFileAtomic): not versions yet.
  for (const rel of (await source.list(dir)).filter((r) => !r.split('/').some((s) => s.startsWith('.')))) {
    versions[rel] = (await source.read(join(dir, rel))) ?? '';
  }
  return { index, versions };
}

/** Read, parse and validate the lock at `lockPath` from `source` (schema and cross-checks). */
export async function readLockFrom(source: FileTree, lockPath: string): Promise<Lock> {
  const { index, versions } = await readLockTexts(source, lockPath);
  return parseLockFiles(lockPath, index, versions);
}
