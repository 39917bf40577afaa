/**
 * Roll an environment back to the version it ran before its current pin
 * (lock previousPin), through the same path as a promotion: artifact
 * digests checked, lock and pin file moved together, optional commit + push.
 *
 *   npm run rollback -- --env prod [--model NAME] [--commit [--push]]
 *
 * See docs/promotion.md. Exit 0 rolled back (or already there), 1 failure, 2 bad usage.
 */
import { isMain, runMain } from '../platform/index.ts';
import { type PromoteScriptDeps, main as promoteMain } from './promote.ts';

export function main(argv: string[], deps: Partial<PromoteScriptDeps> = {}): Promise<number> {
  return promoteMain(argv, deps, 'rollback');
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
