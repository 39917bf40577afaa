/** The pins of a lock as a table: which version each environment runs. */
import { formatNumber, formatTable } from '../platform/table.ts';
import type { Lock } from './types.ts';

/**
 * One row per model and environment: MODEL, ENV, VERSION, CREATED, ROOT
 * (first 12 hex digits), METRICS, ARTIFACT. A model with no pins gets one
 * row saying how many versions it has.
 */
export function showPins(lock: Lock): string {
  const rows: string[][] = [];
  for (const name of Object.keys(lock.models).sort()) {
    const model = lock.models[name];
    if (!model) continue;
    const envs = Object.keys(model.pins).sort();
    if (envs.length === 0) {
      rows.push([name, '-', '-', '', '', `${Object.keys(model.versions).length} versions, none pinned`, '']);
    }
    for (const env of envs) {
      const version = model.pins[env] as string;
      const v = model.versions[version];
      const metrics = Object.entries(v?.metrics ?? {})
        .sort(([x], [y]) => x.localeCompare(y))
        .map(([k, n]) => `${k}=${formatNumber(n)}`)
        .join(' ');
      rows.push([
        name,
        env,
        version,
        v?.createdAt ?? '',
        v?.rootDigest.slice(0, 12) ?? '',
        metrics,
        v?.artifactUri ?? '',
      ]);
    }
  }
  if (rows.length === 0) return 'no models in the lock\n';
  return formatTable(['MODEL', 'ENV', 'VERSION', 'CREATED', 'ROOT', 'METRICS', 'ARTIFACT'], rows);
}
