import type { Metric, Param, RunTag } from './types.ts';

/**
 * Limits of one runs/log-batch request, as the server enforces them
 * (mlflow/utils/validation.py: MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH,
 * MAX_ENTITIES_PER_BATCH).
 * @see https://mlflow.org/docs/latest/api_reference/rest-api.html#log-batch
 */
export const LOG_BATCH_LIMITS = { metrics: 1000, params: 100, tags: 100, total: 1000 } as const;

export interface LogBatch {
  metrics?: Metric[];
  params?: Param[];
  tags?: RunTag[];
}

/**
 * Split one batch into requests that each respect {@link LOG_BATCH_LIMITS},
 * preserving order within each kind. Params and tags go first so that a run
 * shows its configuration as soon as possible. An empty batch gives no request.
 */
export function chunkLogBatch(batch: LogBatch, limits = LOG_BATCH_LIMITS): Required<LogBatch>[] {
  const params = [...(batch.params ?? [])];
  const tags = [...(batch.tags ?? [])];
  const metrics = [...(batch.metrics ?? [])];
  const out: Required<LogBatch>[] = [];
  while (params.length + tags.length + metrics.length > 0) {
    let room = limits.total;
    const p = params.splice(0, Math.min(limits.params, room));
    room -= p.length;
    const t = tags.splice(0, Math.min(limits.tags, room));
    room -= t.length;
    const m = metrics.splice(0, Math.min(limits.metrics, room));
    out.push({ params: p, tags: t, metrics: m });
  }
  return out;
}
