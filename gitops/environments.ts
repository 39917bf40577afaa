/**
 * The environments of a repository: the folders of `environments/` (each a
 * Kustomize overlay). Every command's `--env` is checked against them when
 * it is parsed (platform/cli.ts `choices`), so a typo is bad usage with a
 * did-you-mean, never "nothing to do".
 */
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { ChoiceReader } from '../platform/cli.ts';

/** The usual order of promotion; other environments follow by name. */
const ORDER = ['dev', 'staging', 'prod'];

/** The environment names under `environmentsDir` (its subfolders), dev → staging → prod first. */
export function environmentNames(environmentsDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(environmentsDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name);
  } catch {
    return [];
  }
  const rank = (n: string) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * `choices` for an `--env` flag: the environments of the folder `dirOf`
 * names (from the parsed flags and the working folder; default the
 * working folder's environments/).
 */
export function environmentChoices(
  dirOf: (values: Record<string, unknown>, cwd: string) => string = (_v, cwd) => join(cwd, 'environments'),
): ChoiceReader {
  return (values, cwd) => {
    const dir = resolve(cwd, dirOf(values, cwd));
    const shown = relative(cwd, dir) || '.';
    return {
      values: environmentNames(dir),
      where: `the folders of ${shown.startsWith('..') ? dir : shown}/`,
    };
  };
}

/** `choices` for an `--env` of a command that takes `--lock`: the environments/ beside the lock file. */
export function environmentsBesideLock(lockFlag = 'lock'): ChoiceReader {
  return environmentChoices((v, cwd) =>
    join(dirname(resolve(cwd, String(v[lockFlag] ?? 'models.lock.json'))), 'environments'),
  );
}
