/**
 * The history of one model as the lock has it (its format and validator:
 * model/history.ts): the lock's pins and promotion history, with the few
 * facts of each version a person reads on the model card (serving's page).
 * `npm run serve` passes it to the server with a pin from the lock; the
 * promotion writes it into the pin, which the server reads from
 * SERVING_MODEL_HISTORY_FILE.
 */
import type { ModelHistory } from '../model/history.ts';
import type { Lock } from './types.ts';

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
