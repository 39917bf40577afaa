/**
 * Promote a model version to an environment through its gates
 * (environments/promotion-gates.json): the pin moves in models.lock.json and
 * environments/<env>/model-pin.yaml together, optionally committed and pushed.
 * With --rollback, what `npm run rollback` does. The flags: pipelines/promotion
 * parsePromotionFlags; the work: pipelines/promotion promote() and rollback().
 *
 *   npm run promote -- --env dev [--version <id>] [--image <ref>] [--commit [--push]]
 *
 * See docs/promotion.md. Exit 0 promoted (or already there), 1 a gate failed or an error, 2 bad usage.
 */
import { parsePromotionFlags, promote, promotionContext, rollback } from '../pipelines/promotion/index.ts';
import { isMain, runMain, type ScriptDeps, scriptDeps } from '../platform/index.ts';

/** Run a promotion (with --rollback, a rollback); returns the exit code. */
export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parsePromotionFlags(argv, 'promote', d.print, d.cwd);
  if (!cli) return 0;
  const ctx = promotionContext({ ...d, ...cli.context, processEnv: process.env });
  if (cli.action === 'rollback') await rollback(cli.request, ctx);
  else await promote(cli.request, ctx);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
