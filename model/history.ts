/**
 * Where each version of a model runs and how it got there: the pins and
 * promotion history of one model, with the few facts of each version a
 * person reads on the model card (serving's page). lock/ builds it
 * (lock/history.ts modelHistory) and keeps the promotion records in this
 * format; the promotion writes it into the pin (the ml.gitops/model-history
 * annotation, model/pin.ts), and the server reads it back from
 * SERVING_MODEL_HISTORY_FILE, validated by {@link validateModelHistory}.
 */
import { compileValidator } from '../platform/schema.ts';
import { ENV_NAME_PATTERN, IMAGE_REF_PATTERN, VERSION_ID_PATTERN } from './pin.ts';

/** A git commit id: SHA-1 (40 hex digits) or SHA-256 (64). */
export const GIT_COMMIT = '^[0-9a-f]{40}([0-9a-f]{24})?$';

/** The longest revert reason a promotion record keeps (the failed checks of verify-rollout and the soak fit many times). */
export const REVERT_REASON_MAX = 8000;

/** One move of a pin: a record in the append-only `promotions` history. */
export interface PromotionRecord {
  env: string;
  /** The version pinned before, or null for the first pin of the environment. */
  from: string | null;
  to: string;
  /** ISO 8601 time of the promotion. */
  at: string;
  /** Who promoted (a GitHub login, a workflow). */
  by?: string;
  /** The git commit that carried the promotion. */
  commit?: string;
  /**
   * The serving image the environment runs with this version (`registry/name@sha256:…`):
   * the image travels with the model pin, dev → staging → prod (docs/gitops.md "Images").
   */
  image?: string;
  /**
   * Set on a rollback that post-promotion verification made (a revert):
   * `from` failed in `env`, and `reason` is what failed, verbatim. A version
   * reverted anywhere is refused by the `notReverted` promotion gate
   * (docs/rollout.md "Automatic revert").
   */
  reverted?: RevertNote;
}

/** Why a version was taken out of an environment after its promotion (the failed checks, verbatim). */
export interface RevertNote {
  reason: string;
}

/** One promotion record (`models.<name>.promotions[]` of the lock, `promotions[]` of a history). */
export const promotionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['env', 'from', 'to', 'at'],
  properties: {
    env: { type: 'string', pattern: ENV_NAME_PATTERN },
    from: { type: 'string', nullable: true, pattern: VERSION_ID_PATTERN },
    to: { type: 'string', pattern: VERSION_ID_PATTERN },
    at: { type: 'string', format: 'date-time' },
    by: { type: 'string', minLength: 1 },
    commit: { type: 'string', pattern: GIT_COMMIT },
    image: { type: 'string', pattern: IMAGE_REF_PATTERN },
    // A revert: the rollback post-promotion verification made (RevertNote). Optional: older locks stay valid.
    reverted: {
      type: 'object',
      additionalProperties: false,
      required: ['reason'],
      properties: { reason: { type: 'string', minLength: 1, maxLength: REVERT_REASON_MAX } },
    },
  },
} as const;

export interface ModelHistory {
  model: string;
  /** environment → version, as the lock says. */
  pins: Record<string, string>;
  /** The last promotions, oldest first. */
  promotions: PromotionRecord[];
  /** The versions named by `pins` and `promotions`. */
  versions: Record<string, { createdAt: string; gitCommit: string | null; metrics: Record<string, number> }>;
}

/** Validate a model history read from a file (`what` names it in messages). */
export const validateModelHistory = compileValidator<ModelHistory>({
  type: 'object',
  required: ['model', 'pins', 'promotions', 'versions'],
  properties: {
    model: { type: 'string', minLength: 1 },
    pins: {
      type: 'object',
      propertyNames: { pattern: ENV_NAME_PATTERN },
      additionalProperties: { type: 'string' },
    },
    promotions: { type: 'array', maxItems: 1000, items: promotionSchema },
    versions: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['createdAt', 'metrics'],
        properties: {
          createdAt: { type: 'string' },
          gitCommit: { type: ['string', 'null'] },
          metrics: { type: 'object', additionalProperties: { type: 'number' } },
        },
      },
    },
  },
});
