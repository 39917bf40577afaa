/**
 * Revert an environment whose post-promotion verification failed: pin the
 * version it ran before, through the same path as a rollback (digests
 * checked, lock and pin file moved together, optional commit + push), with
 * the reason (the failed checks, verbatim) in the commit message, the
 * promotion record (`reverted`) and the job summary (pipelines/promotion
 * revert()). The notReverted gate then refuses that version in the next
 * environment.
 *
 *   npm run revert -- --env dev --version <failed id> --reason-file reason.txt [--commit [--push]]
 *
 * See docs/rollout.md "Automatic revert". Exit 0 reverted (or already), 1 failure, 2 bad usage.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parsePromotionFlags, promotionContext, revert } from '../pipelines/promotion/index.ts';
import { isMain, ProjectError, runMain, type ScriptDeps, scriptDeps } from '../platform/index.ts';

/** Run a revert; returns the exit code. */
export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parsePromotionFlags(argv, 'revert', d.print, d.cwd);
  if (!cli) return 0;
  const ctx = promotionContext({ ...d, ...cli.context, processEnv: process.env });
  const given = cli.reason as { text: string } | { file: string };
  const reason = 'text' in given ? given.text : await readReasonFile(resolve(d.cwd, given.file), given.file);
  await revert({ ...cli.request, version: cli.request.version as string, reason }, ctx);
  return 0;
}

/** The text of --reason-file; USAGE naming the flag when it cannot be read. */
function readReasonFile(path: string, flag: string): Promise<string> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ProjectError('USAGE', `--reason-file ${flag}: ${e.code ?? e.message}`, {
      subject: '--reason-file',
      cause: e,
    });
  });
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
