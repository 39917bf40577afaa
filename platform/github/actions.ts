/**
 * The GitHub Actions plumbing, through `@actions/core` (the toolkit's own
 * implementation of the workflow commands): `::error` annotations with file
 * and line, log groups (`::group::`) and masks (`::add-mask::`) for every
 * secret a script reads; step outputs and the job summary are ./summary.ts.
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands
 * @see https://github.com/actions/toolkit/tree/main/packages/core
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import * as core from '@actions/core';
import { isProjectError } from '../errors.ts';
import { envSecrets } from '../redact.ts';

type Env = Record<string, string | undefined>;

/** True inside a GitHub Actions job (GITHUB_ACTIONS=true), where workflow commands mean something. */
export const inActions = (env: Env): boolean => env.GITHUB_ACTIONS === 'true';

let queue: Promise<unknown> = Promise.resolve();

/**
 * Run `fn` with `vars` set in process.env, one call at a time, restoring what
 * was there: how ./summary.ts hands `@actions/core` the file of the
 * environment it was given.
 */
export function withProcessEnv<T>(vars: Record<string, string>, fn: () => T | Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const saved = Object.keys(vars).map((k) => [k, process.env[k]] as const);
    Object.assign(process.env, vars);
    try {
      return await fn();
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next;
}

/**
 * `fn` inside a collapsible log group named `name` in Actions (`core.group`:
 * `::group::` … `::endgroup::` on stdout), or simply `fn` elsewhere.
 */
export function logGroup<T>(env: Env, name: string, fn: () => Promise<T>): Promise<T> {
  return inActions(env) ? core.group(name, fn) : fn();
}

/**
 * Mask every secret `env` holds (platform/redact.ts envSecrets: the MLflow
 * token or password, the GitHub token, the Prometheus token, the registry
 * password, the object store's secret key, ...) with `core.setSecret`, so
 * the runner replaces it by `***` in the log, also in output that does not
 * pass through this process. Call it before anything is printed.
 */
export function maskSecrets(env: Env): void {
  if (!inActions(env)) return;
  for (const secret of envSecrets(env)) core.setSecret(secret);
}

/** Where an error annotation points: a file of the workspace, and a line when the error knows it. */
export interface AnnotationTarget {
  file?: string;
  startLine?: number;
}

/**
 * The annotation properties of an error: its subject as a workspace-relative
 * file when it names a file there (GITHUB_WORKSPACE, else `cwd`), with its
 * line when it has one; none otherwise (a URL, a field, a flag).
 */
export function annotationOf(e: unknown, env: Env, cwd: string): AnnotationTarget {
  if (!isProjectError(e) || !e.subject) return {};
  const workspace = env.GITHUB_WORKSPACE || cwd;
  const path = isAbsolute(e.subject) ? e.subject : resolve(cwd, e.subject);
  const rel = relative(workspace, path);
  if (!rel || rel.startsWith('..') || isAbsolute(rel) || !existsSync(path) || !statSync(path).isFile())
    return {};
  return { file: rel.split(sep).join('/'), ...(e.line ? { startLine: e.line } : {}) };
}

/**
 * Report a script's failure as an `::error` annotation (`core.error`, with
 * file and line where the error names a file), which GitHub shows on the
 * run and on the pull request's files. Elsewhere nothing: runMain prints it.
 */
export function annotateError(e: unknown, message: string, env: Env, cwd: string): void {
  if (!inActions(env)) return;
  core.error(message, { title: 'error', ...annotationOf(e, env, cwd) });
}
