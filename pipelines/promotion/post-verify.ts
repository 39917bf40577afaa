/**
 * The step after a promotion (npm run verify-rollout): verify that the
 * environment serves its pin (pipelines/verify: Application, Deployment,
 * pods, /predict), then soak it (./soak.ts: the SLO and drift alerts in
 * Prometheus), and when either fails for a reason that is the model's,
 * revert the environment through Git (./promote.ts revert). The GitHub step
 * outputs say the outcome, the job summary a failure. See docs/rollout.md
 * "Automatic revert".
 */
import type { Clock } from '../../platform/clock.ts';
import { isProjectError } from '../../platform/errors.ts';
import { appendJobSummary, setOutputs } from '../../platform/github/summary.ts';
import {
  type Cluster,
  type RolloutReport,
  type VerifyRolloutOptions,
  verifyRollout,
} from '../verify/index.ts';
import type { PromotionContext } from './context.ts';
import { verificationFailedSummary } from './messages.ts';
import type { PromoteResult } from './move.ts';
import { revert } from './promote.ts';
import { type SoakOptions, type SoakResult, soak } from './soak.ts';

export interface PostVerifyOptions {
  /** What to verify: the environment, the version it must serve, how long to wait. */
  rollout: VerifyRolloutOptions;
  /** After the checks pass, watch these alerts this long (absent: no soak). */
  soak?: Omit<SoakOptions, 'env' | 'version' | 'namespace'>;
  /** Revert through Git in this context when the failure is the model's (absent: report it only). */
  revert?: PromotionContext;
  /** GitHub's step outputs file (GITHUB_OUTPUT) and job summary file (GITHUB_STEP_SUMMARY). */
  github?: { output?: string; summary?: string };
}

export interface PostVerifyDeps extends Partial<Clock> {
  cluster: Cluster;
  /** Progress, one or more lines at a time: each verification round, the soak, the outcome. */
  log: (text: string) => void;
  /** Fetch for Prometheus. */
  fetch?: typeof fetch;
}

export interface PostVerifyResult {
  verified: boolean;
  /** Why not: the checks or the alerts, verbatim (what a revert records). */
  reason?: string;
  report?: RolloutReport;
  soak?: SoakResult;
  /** The revert, when the context asked for one. */
  reverted?: PromoteResult;
}

/**
 * Verify, soak, and on the model's failure revert; resolves with what
 * happened. Throws (no revert) when the failure says nothing about the model:
 * a cluster or Prometheus that does not answer, refused credentials.
 */
export async function postVerify(o: PostVerifyOptions, deps: PostVerifyDeps): Promise<PostVerifyResult> {
  const { env, version, model } = o.rollout;
  deps.log(
    `verifying ${model ?? 'model'} version ${version} in ${env} on ${deps.cluster.server} (timeout ${o.rollout.timeoutMs / 1000}s)`,
  );
  const outcome = await verifyThenSoak(o, deps);
  const { reason } = outcome;
  if (o.github?.output) {
    await setOutputs(o.github.output, {
      verified: String(reason === undefined),
      revert: String(reason !== undefined),
      version,
      reason: reason ?? '',
    });
  }
  if (reason === undefined) return { verified: true, ...outcome };
  deps.log(`post-promotion verification of version ${version} in ${env} failed:\n${reason}`);
  if (o.github?.summary) {
    await appendJobSummary(
      o.github.summary,
      verificationFailedSummary({ env, version, model, reason, reverting: o.revert !== undefined }),
    );
  }
  if (!o.revert) return { verified: false, ...outcome };
  const reverted = await revert({ env, model, version, reason }, o.revert);
  return { verified: false, ...outcome, reverted };
}

/** The checks, then (when they pass and a soak is asked for) the soak; `reason` when either failed. */
async function verifyThenSoak(
  o: PostVerifyOptions,
  deps: PostVerifyDeps,
): Promise<Pick<PostVerifyResult, 'reason' | 'report' | 'soak'>> {
  const clock = { sleep: deps.sleep, now: deps.now };
  let reason: string | undefined;
  const report = await verifyRollout(o.rollout, {
    cluster: deps.cluster,
    log: (lines) => deps.log(`--\n${lines}`),
    ...clock,
  }).catch((error: unknown) => {
    // A check that timed out is the model's failure; a cluster that does not answer is not (rethrown).
    reason = revertReasonOf({ error });
    if (!reason) throw error;
    return undefined;
  });
  if (!report) return { reason };
  deps.log(
    `rollout verified: ${o.rollout.env} serves version ${report.version} (${Math.round(report.elapsedMs / 1000)}s)`,
  );
  if (!o.soak) return { report };
  const soaked = await soak(
    {
      ...o.soak,
      env: o.rollout.env,
      version: o.rollout.version,
      namespace: o.rollout.namespace || undefined,
    },
    { log: deps.log, fetch: deps.fetch, ...clock },
  );
  return { report, soak: soaked, reason: revertReasonOf({ soak: soaked }) };
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
