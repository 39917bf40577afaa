/**
 * Revert an environment whose post-promotion verification failed: pin the
 * version it ran before, through the same path as a rollback (digests
 * checked, lock and pin file moved together, optional commit + push), with
 * the reason (the failed checks, verbatim) in the commit message, the
 * promotion record (`reverted`) and the job summary. The notReverted gate
 * then refuses that version in the next environment.
 *
 *   npm run revert -- --env dev --version <failed id> --reason-file reason.txt [--commit [--push]]
 *
 * See docs/rollout.md "Automatic revert". Exit 0 reverted (or already), 1 failure, 2 bad usage.
 */
import { isMain, runMain } from '../platform/index.ts';
import { type PromoteScriptDeps, main as promoteMain } from './promote.ts';

export function main(argv: string[], deps: Partial<PromoteScriptDeps> = {}): Promise<number> {
  return promoteMain(argv, deps, 'revert');
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
