/**
 * Roll an environment back to the version it ran before its current pin
 * (lock previousPin), through the same path as a promotion: artifact
 * digests checked, lock and pin file moved together, optional commit + push
 * (pipelines/promotion rollback()).
 *
 *   npm run rollback -- --env prod [--model NAME] [--commit [--push]]
 *
 * See docs/promotion.md. Exit 0 rolled back (or already there), 1 failure, 2 bad usage.
 */
import { parsePromotionFlags, promotionContext, rollback } from '../pipelines/promotion/index.ts';
import { isMain, runMain, type ScriptDeps, scriptDeps } from '../platform/index.ts';

/** Run a rollback; returns the exit code. */
export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parsePromotionFlags(argv, 'rollback', d.print, d.cwd);
  if (!cli) return 0;
  await rollback(cli.request, promotionContext({ ...d, ...cli.context, processEnv: process.env }));
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
