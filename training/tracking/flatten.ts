/** MLflow's limit on a param value (mlflow/utils/validation.py MAX_PARAM_VAL_LENGTH). */
export const MAX_PARAM_VALUE_LENGTH = 6000;

/**
 * Flatten a config object into MLflow params with dotted keys:
 * `{ model: { layers: [32, 64] }, lr: 0.01 }` → `{ "model.layers": "[32,64]", "lr": "0.01" }`.
 * Arrays become JSON; values longer than MLflow accepts are cut with a marker.
 */
export function flattenParams(value: unknown, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (v: unknown, key: string) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0 && key) out[key] = '{}';
      for (const [k, child] of entries) walk(child, key ? `${key}.${k}` : k);
      return;
    }
    if (v === undefined || !key) return;
    let s = typeof v === 'string' ? v : JSON.stringify(v);
    if (s.length > MAX_PARAM_VALUE_LENGTH) s = `${s.slice(0, MAX_PARAM_VALUE_LENGTH - 14)}...[truncated]`;
    out[key] = s;
  };
  walk(value, prefix);
  return out;
}
