/**
 * The `notReverted` gate: a version that post-promotion verification took
 * out of an environment (a promotion record with `reverted`, written by
 * revert() in ./promote.ts) is not promoted anywhere else, by the workflow
 * or by hand, until someone says why it may be (`--allow-reverted "<why>"`,
 * which the gate table and so the promotion commit keep). See docs/rollout.md
 * "Automatic revert".
 */
import { type Lock, type PromotionRecord, revertsOf } from '../../lock/index.ts';
import type { GateResult } from './gates.ts';
import { revertSubject } from './messages.ts';

/** A reason on one line, for a table cell: lines joined with " | ", cut at `max` characters. */
export function oneLine(reason: string, max = 400): string {
  const text = reason
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' | ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** How one revert record reads in a gate row and an error. */
export function describeRevert(model: string, r: PromotionRecord): string {
  const subject = revertSubject(model, r.env, r.to, r.from ?? '');
  return `reverted in ${r.env} at ${r.at}${r.by ? ` by ${r.by}` : ''} (commit "${subject}"): ${oneLine(r.reverted?.reason ?? '')}`;
}

/** The notReverted row for `version` of `model`: FAIL naming each revert, unless `allowReverted` says why. */
export function notRevertedGate(
  lock: Lock,
  model: string,
  version: string,
  allowReverted?: string,
): GateResult {
  const reverts = revertsOf(lock, model, version);
  const expected = 'never reverted in any environment (override: --allow-reverted "<why>")';
  if (reverts.length === 0) return { gate: 'notReverted', expected, actual: 'never reverted', pass: true };
  const what = reverts.map((r) => describeRevert(model, r)).join('; ');
  if (allowReverted !== undefined && allowReverted.trim() !== '') {
    return {
      gate: 'notReverted',
      expected,
      actual: `${what}; promoted anyway (--allow-reverted): ${oneLine(allowReverted)}`,
      pass: true,
    };
  }
  return {
    gate: 'notReverted',
    expected,
    actual: `${what}. Promote another version, or once the cause is understood pass --allow-reverted "<why>"; find the revert with git log --grep "revert ${model} ${reverts[0]?.env}" -- models.lock.json`,
    pass: false,
  };
}
