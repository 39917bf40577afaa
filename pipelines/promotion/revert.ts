/**
 * Automatic revert through Git: when an environment's post-promotion
 * verification fails (verify-rollout times out on a check, or an SLO or
 * drift alert fires during the soak), pin the version it ran before, through
 * the rollback path of ./promote.ts (previous pin and image, digests
 * checked, lock + pin file in one commit, pushed with push-race retry). The
 * commit message and the job summary carry the reason verbatim; the
 * promotion record carries it as `reverted`, so the notReverted gate
 * (./reverted.ts) refuses that version in the next environment, and dev's
 * `newest` source skips it. See docs/rollout.md "Automatic revert".
 */
import { isProjectError } from '../../platform/errors.ts';
import { type PromoteContext, type PromoteRequest, type PromoteResult, promote } from './promote.ts';
import type { SoakResult } from './soak.ts';

export interface RevertRequest
  extends Omit<PromoteRequest, 'mode' | 'version' | 'image' | 'revert' | 'allowReverted'> {
  /** The version that failed: what `env` must pin now. */
  version: string;
  /** The failed checks, verbatim. */
  reason: string;
}

/** Revert `env` from `version` to the version it ran before; see the module comment. */
export function revert(req: RevertRequest, ctx: PromoteContext): Promise<PromoteResult> {
  const { version, reason, ...rest } = req;
  return promote({ ...rest, mode: 'rollback', revert: { version, reason } }, ctx);
}

/** The text of a ProjectError without its "→ hint" line (the checks as the check reported them). */
function withoutHint(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const hint = isProjectError(e) ? e.hint : undefined;
  return hint && message.endsWith(`\n  → ${hint}`) ? message.slice(0, -`\n  → ${hint}`.length) : message;
}

/**
 * Whether a failure of verify-rollout or the soak is the model's (revert)
 * or the checker's (don't): a check that timed out (GATE_FAILED, with each
 * check's last report) or a firing alert is; a cluster or Prometheus that
 * does not answer, refused credentials or bad flags are not, since they say
 * nothing about the version.
 */
export function revertReasonOf(failure: { error: unknown } | { soak: SoakResult }): string | undefined {
  if ('soak' in failure) return failure.soak.ok ? undefined : failure.soak.reason;
  const e = failure.error;
  return isProjectError(e) && e.code === 'GATE_FAILED' ? withoutHint(e) : undefined;
}

/** The job summary of a revert (markdown): what was reverted, to what, why (verbatim), and the commit. */
export function revertSummary(result: PromoteResult): string {
  const failed = result.revert?.version ?? result.from ?? '?';
  const lines = [
    `## Reverted ${result.model} in ${result.env}: ${failed} → ${result.version}`,
    '',
    result.changed
      ? `Post-promotion verification of version \`${failed}\` failed, so ${result.env} was pinned back to \`${result.version}\`${result.image ? ` (image \`${result.image}\`)` : ''}${result.commit ? ` in commit \`${result.commit}\`${result.pushed ? ' (pushed)' : ' (not pushed)'}` : ' (not committed)'}. Promoting \`${failed}\` to another environment is refused by the \`notReverted\` gate.`
      : `${result.env} already runs \`${result.version}\`: it was reverted before; nothing changed.`,
    '',
    'Reason (the failed checks, verbatim):',
    '',
    '```',
    (result.revert?.reason ?? '').trimEnd().replaceAll('```', "'''"),
    '```',
    '',
  ];
  return lines.join('\n');
}
