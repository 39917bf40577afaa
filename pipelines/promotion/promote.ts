/**
 * Promotion, rollback and revert of a model version in one environment, as
 * library functions of a {@link PromotionContext} (./context.ts); the
 * commands (scripts/promote.ts, rollback.ts, revert.ts), the post-verify
 * step and the demo call them. Each checks its request and takes the one
 * path of ./move.ts: choose, gates, pin file and lock together, commit and
 * push. See docs/promotion.md and docs/rollout.md "Automatic revert".
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isImageRef } from '../../model/pin.ts';
import { ProjectError } from '../../platform/errors.ts';
import { appendJobSummary } from '../../platform/github/summary.ts';
import { type EnvironmentRule, loadGatesConfig } from './config.ts';
import type { PromotionContext } from './context.ts';
import { revertSummary } from './messages.ts';
import { movePin, type PromoteResult } from './move.ts';
import { ruleOf } from './select.ts';

export interface PromoteRequest {
  env: string;
  /** Default: the lock's only model. */
  model?: string;
  /** The version to promote; default by the environment's `source` in the gates config. */
  version?: string;
  /**
   * The serving image to run it with (`registry/model-server@sha256:…`, what
   * image.yml built); default: the image the source environment runs (staging
   * from dev, prod from staging), or for dev the image it runs now.
   */
  image?: string;
  /** Promote a version that was reverted somewhere anyway, saying why (the notReverted gate passes and records it). */
  allowReverted?: string;
}

export interface RollbackRequest {
  env: string;
  model?: string;
}

export interface RevertRequest {
  env: string;
  model?: string;
  /** The version that failed its post-promotion verification: what `env` must pin now. */
  version: string;
  /** The failed checks, verbatim: into the commit message, the promotion record and the job summary. */
  reason: string;
}

/** A rollback passes one gate: the artifact of the version it returns to still has its digests. */
const ROLLBACK_RULE: EnvironmentRule = { source: '', gates: { verifyDigests: true } };

/** Promote a version to `req.env` through the environment's gates (environments/promotion-gates.json). */
export async function promote(req: PromoteRequest, ctx: PromotionContext): Promise<PromoteResult> {
  if (req.image !== undefined && !isImageRef(req.image)) {
    throw new ProjectError(
      'USAGE',
      `--image ${req.image} is not an image reference (registry/name[:tag][@sha256:<hex>])`,
      { subject: '--image' },
    );
  }
  assertEnvironment(ctx, req.env);
  const rule = ruleOf(await loadGatesConfig(ctx.gatesPath), req.env, ctx.gatesPath);
  const { env, model, version, image, allowReverted } = req;
  return movePin({ kind: 'promote', env, model, version, image, allowReverted, rule }, ctx);
}

/**
 * Roll `req.env` back to the version it ran before its current pin (lock
 * previousPin), with the image of that state; its digests are checked.
 */
export async function rollback(req: RollbackRequest, ctx: PromotionContext): Promise<PromoteResult> {
  assertEnvironment(ctx, req.env);
  return movePin({ kind: 'rollback', env: req.env, model: req.model, rule: ROLLBACK_RULE }, ctx);
}

/**
 * Revert `req.env` from `req.version`, the version whose post-promotion
 * verification failed, to the version it ran before: a rollback that records
 * the reason (`reverted`), which the notReverted gate then reads, and writes
 * the job summary when the context has one. A second revert of the same
 * failure is a no-op that says so.
 */
export async function revert(req: RevertRequest, ctx: PromotionContext): Promise<PromoteResult> {
  if (!req.reason.trim()) {
    throw new ProjectError('USAGE', 'a revert needs a reason (the checks that failed)', {
      subject: '--reason',
    });
  }
  assertEnvironment(ctx, req.env);
  const result = await movePin(
    {
      kind: 'rollback',
      env: req.env,
      model: req.model,
      revert: { version: req.version, reason: req.reason },
      rule: ROLLBACK_RULE,
    },
    ctx,
  );
  if (ctx.jobSummary) await appendJobSummary(ctx.jobSummary, revertSummary(result));
  return result;
}

/** NOT_FOUND unless `env` has a folder under the context's environments/. */
function assertEnvironment(ctx: PromotionContext, env: string): void {
  const envDir = join(ctx.environmentsDir, env);
  if (!existsSync(envDir)) {
    throw new ProjectError('NOT_FOUND', `no environment folder ${envDir} for environment "${env}"`, {
      subject: env,
      hint: 'environments are the folders under environments/ (dev, staging, prod)',
    });
  }
}
