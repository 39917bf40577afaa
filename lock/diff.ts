/**
 * What changed between two locks (e.g. the base branch and a pull request):
 * versions added, removed or changed, pins moved per environment, and the
 * metric deltas that come with each, for PR comments and `lock diff`.
 */

import { formatDelta, formatNumber, formatTable } from '../platform/table.ts';
import { versionsOldestFirst } from './schema.ts';
import type { Lock, LockedVersion } from './types.ts';

export interface MetricDelta {
  name: string;
  before: number | null;
  after: number | null;
  /** after - before, or null when either is missing. */
  delta: number | null;
}

export type DiffRow =
  | {
      kind: 'version';
      model: string;
      version: string;
      change: 'added' | 'removed' | 'changed';
      /** Top-level fields of the entry that differ (for 'changed'). */
      fields: string[];
      metrics: MetricDelta[];
    }
  | {
      kind: 'pin';
      model: string;
      env: string;
      change: 'pin';
      /** Version pinned in `a` (null: unpinned). */
      from: string | null;
      /** Version pinned in `b` (null: unpinned). */
      to: string | null;
      /** Metrics of `to` (in b) against `from` (in a). */
      metrics: MetricDelta[];
    };

function metricDeltas(
  a: LockedVersion | undefined,
  b: LockedVersion | undefined,
  onlyChanged = false,
): MetricDelta[] {
  const names = [...new Set([...Object.keys(a?.metrics ?? {}), ...Object.keys(b?.metrics ?? {})])].sort();
  const out: MetricDelta[] = [];
  for (const name of names) {
    const before = a?.metrics[name] ?? null;
    const after = b?.metrics[name] ?? null;
    if (onlyChanged && before === after) continue;
    out.push({ name, before, after, delta: before !== null && after !== null ? after - before : null });
  }
  return out;
}

const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);

/** Rows describing how `b` differs from `a`, sorted by model, then versions oldest first, then pins by env. */
export function diffLocks(a: Lock, b: Lock): DiffRow[] {
  const rows: DiffRow[] = [];
  const models = [...new Set([...Object.keys(a.models), ...Object.keys(b.models)])].sort();
  for (const model of models) {
    const ma = a.models[model];
    const mb = b.models[model];
    // Oldest first (createdAt, then id), over the versions of both locks.
    const ids = versionsOldestFirst({ versions: { ...(ma?.versions ?? {}), ...(mb?.versions ?? {}) } });
    for (const version of ids) {
      const va = ma?.versions[version];
      const vb = mb?.versions[version];
      if (!va && vb)
        rows.push({
          kind: 'version',
          model,
          version,
          change: 'added',
          fields: [],
          metrics: metricDeltas(undefined, vb),
        });
      else if (va && !vb)
        rows.push({
          kind: 'version',
          model,
          version,
          change: 'removed',
          fields: [],
          metrics: metricDeltas(va, undefined),
        });
      else if (va && vb) {
        const keys = [...new Set([...Object.keys(va), ...Object.keys(vb)])].sort() as (keyof LockedVersion)[];
        const fields = keys.filter((k) => !same(va[k], vb[k]));
        if (fields.length > 0) {
          rows.push({
            kind: 'version',
            model,
            version,
            change: 'changed',
            fields,
            metrics: metricDeltas(va, vb, true),
          });
        }
      }
    }
    const envs = [...new Set([...Object.keys(ma?.pins ?? {}), ...Object.keys(mb?.pins ?? {})])].sort();
    for (const env of envs) {
      const from = ma?.pins[env] ?? null;
      const to = mb?.pins[env] ?? null;
      if (from === to) continue;
      const before = from === null ? undefined : ma?.versions[from];
      const after = to === null ? undefined : mb?.versions[to];
      rows.push({ kind: 'pin', model, env, change: 'pin', from, to, metrics: metricDeltas(before, after) });
    }
  }
  return rows;
}

function describeMetrics(row: DiffRow): string {
  return row.metrics
    .map((m) => {
      if (m.before === null && m.after !== null) return `${m.name} ${formatNumber(m.after)}`;
      if (m.after === null && m.before !== null) return `${m.name} ${formatNumber(m.before)}`;
      if (m.before === null || m.after === null || m.delta === null) return m.name;
      return `${m.name} ${formatNumber(m.before)} → ${formatNumber(m.after)} (${formatDelta(m.delta)})`;
    })
    .join(', ');
}

/** The rows as a plain-text table (MODEL, WHAT, CHANGE, METRICS); "no changes" when empty. */
export function formatDiffTable(rows: readonly DiffRow[]): string {
  if (rows.length === 0) return 'no changes\n';
  return formatTable(
    ['MODEL', 'WHAT', 'CHANGE', 'METRICS'],
    rows.map((r) =>
      r.kind === 'version'
        ? [
            r.model,
            `version ${r.version}`,
            r.change === 'changed' ? `changed: ${r.fields.join(', ')}` : r.change,
            describeMetrics(r),
          ]
        : [r.model, `pin ${r.env}`, `${r.from ?? '(none)'} → ${r.to ?? '(none)'}`, describeMetrics(r)],
    ),
  );
}
