/**
 * Where each version of a model runs and how it got there: the lock's pins
 * and promotion history of one model, with the few facts of each version a
 * person reads on the model card (serving's page). The server reads it from
 * the lock (SERVING_LOCK_FILE) or from a file the promotion writes
 * (SERVING_MODEL_HISTORY_FILE), validated by the schema below.
 */
import { compileValidator } from '../platform/schema.ts';
import { ENV_NAME_PATTERN, promotionSchema } from './schema.ts';
import type { Lock, PromotionRecord } from './types.ts';

export interface ModelHistory {
  model: string;
  /** environment → version, as the lock says. */
  pins: Record<string, string>;
  /** The last promotions, oldest first. */
  promotions: PromotionRecord[];
  /** The versions named by `pins` and `promotions`. */
  versions: Record<string, { createdAt: string; gitCommit: string | null; metrics: Record<string, number> }>;
}

/** The history of `model` in `lock`, with its last `limit` promotions. */
export function modelHistory(lock: Lock, model: string, limit = 20): ModelHistory {
  const m = lock.models[model];
  const promotions = (m?.promotions ?? []).slice(-limit);
  const named = new Set([
    ...Object.values(m?.pins ?? {}),
    ...promotions.flatMap((p) => (p.from === null ? [p.to] : [p.from, p.to])),
  ]);
  const versions: ModelHistory['versions'] = {};
  for (const id of [...named].sort()) {
    const v = m?.versions[id];
    if (v) versions[id] = { createdAt: v.createdAt, gitCommit: v.gitCommit, metrics: v.metrics };
  }
  return { model, pins: { ...(m?.pins ?? {}) }, promotions, versions };
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
