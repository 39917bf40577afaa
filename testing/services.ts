/**
 * Tests that need a tool or a service (promtool, Kustomize, Chromium,
 * MLflow, kube-apiserver...) say so with ONE helper, {@link needs}: it
 * returns the `test`/`it`/`describe` to register them with.
 *
 * - Everything is there: the real jest functions.
 * - Something is missing, outside CI: their `.skip`, with the reason appended
 *   to each title, so the jest report lists what did not run and why.
 * - Something is missing with `CI=true`: it throws, and the suite fails.
 *
 * A test never returns early to "pass" without its tool. Whether a tool or
 * service is there is decided synchronously when the test file loads (a
 * binary or venv on disk); a service that is installed but fails to START is
 * a failure of the test, not a skip.
 */
import { describe as jestDescribe, it as jestIt, test as jestTest } from '@jest/globals';
import { findTool, isExecutable } from '../gitops/tools.ts';

export const inCI = (env: NodeJS.ProcessEnv = process.env): boolean => env.CI === 'true' || env.CI === '1';

/**
 * Absolute path of an executable: an absolute `name` that is executable, else
 * `name` on PATH or in the set-up tools folder (gitops/tools.ts), else undefined.
 */
export function findExecutable(name: string): string | undefined {
  if (!name.startsWith('/')) return findTool(name);
  return isExecutable(name) ? name : undefined;
}

/** Something tests need from the machine: a tool, an installed service. */
export interface Requirement {
  /** How messages name it: `promtool`, `MLflow 3.17.2`. */
  readonly name: string;
  /** Where it was found (a path), or undefined when it is missing. */
  readonly found: string | undefined;
  /** What to run to install it (the set-up step). */
  readonly install: string;
  /** The path where it was found; throws when missing (read it inside tests that {@link needs} it). */
  readonly path: string;
}

/** A requirement that is met when `found` is set (a path, a folder). */
export function requirement(name: string, found: string | undefined, install: string): Requirement {
  return {
    name,
    found,
    install,
    get path(): string {
      if (found === undefined) throw new Error(`${name} not found: ${install}`);
      return found;
    },
  };
}

/** An executable (see {@link findExecutable}): `tool('promtool', 'bash scripts/setup.d/50-prometheus.sh')`. */
export const tool = (name: string, install: string): Requirement =>
  requirement(name, findExecutable(name), install);

/** Why the missing ones are missing, one clause each; '' when all are met. */
export function missingReason(requirements: readonly Requirement[]): string {
  return requirements
    .filter((r) => r.found === undefined)
    .map((r) => `${r.name} not found: ${r.install}`)
    .join('; ');
}

/** The jest functions a gated test file registers with (the subset we use, typed as jest's own). */
export interface JestApi {
  test: typeof jestTest;
  it: typeof jestIt;
  describe: typeof jestDescribe;
}

const JEST: JestApi = { test: jestTest, it: jestIt, describe: jestDescribe };

type Register = (name: string, ...rest: unknown[]) => void;

/** `fn.skip` under a title that says why; its `.each`, `.skip` and `.only` do the same. */
function skipping<F extends typeof jestTest | typeof jestDescribe>(fn: F, why: string): F {
  const title = (name: string) => `${name} [skipped: ${why}]`;
  const skip = fn.skip as unknown as Register;
  const skipEach = fn.skip.each as unknown as (...table: unknown[]) => Register;
  const wrapped: Register = (name, ...rest) => skip(title(name), ...rest);
  const each =
    (...table: unknown[]): Register =>
    (name, ...rest) =>
      skipEach(...table)(title(name), ...rest);
  return Object.assign(wrapped, { each, skip: wrapped, only: wrapped }) as unknown as F;
}

/**
 * The `test`, `it` and `describe` for tests that need every one of
 * `requirements`: the real ones when all are there; outside CI their `.skip`
 * with the reason in the title (and one warning line); under `CI=true` it
 * throws `CI=true and <what> not found: <how to install>`, so the suite fails.
 */
export function needs(...requirements: Requirement[]): JestApi {
  return gate(requirements);
}

/** {@link needs} with the environment and the jest functions passed in (for its own test). */
export function gate(
  requirements: readonly Requirement[],
  options: { env?: NodeJS.ProcessEnv; jest?: JestApi; warn?: (line: string) => void } = {},
): JestApi {
  const api = options.jest ?? JEST;
  const why = missingReason(requirements);
  if (!why) return api;
  if (inCI(options.env)) throw new Error(`CI=true and ${why}`);
  (options.warn ?? console.warn)(`skipping: ${why}`);
  return {
    test: skipping(api.test, why),
    it: skipping(api.it, why),
    describe: skipping(api.describe, why),
  };
}
