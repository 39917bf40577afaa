/**
 * Check that every file of every pinned version (or every version) still has
 * the sha256 the lock recorded, fetching it from where its artifactUri
 * points (a folder, the MLflow artifact proxy, http(s), the object store).
 * Reports every problem, not only the first.
 */

import type { ArtifactStoreOptions } from '../platform/artifact-store/index.ts';
import { digestMismatch, hashArtifactFile } from '../platform/artifact-store/index.ts';
import { rootDigest } from '../platform/digest.ts';
import { isProjectError } from '../platform/errors.ts';
import { versionsOldestFirst } from './schema.ts';
import type { Lock } from './types.ts';

export interface VerifyOptions extends Omit<ArtifactStoreOptions, 'baseDir'> {
  /** The lock file's folder: relative artifact URIs are resolved against it. */
  lockDir: string;
  /** Only versions pinned in these environments (default: every environment). */
  envs?: readonly string[];
  /** Only these models (default: all). */
  models?: readonly string[];
  /** Every version, pinned or not. */
  all?: boolean;
}

export interface VerifyProblem {
  model: string;
  version: string;
  /** The artifact file, when the problem is about one. */
  file?: string;
  /** Where the file was read from (path or URL). */
  source?: string;
  expected?: string;
  actual?: string;
  /** One line naming model, version, file, expected and actual. */
  message: string;
}

export interface VerifiedVersion {
  model: string;
  version: string;
  /** Environments pinned to this version. */
  envs: string[];
  artifactUri: string;
  files: number;
  ok: boolean;
}

export interface VerifyReport {
  ok: boolean;
  versions: VerifiedVersion[];
  problems: VerifyProblem[];
}

/** Which (model, version) pairs to check, each with the environments pinned to it. */
function targets(lock: Lock, o: VerifyOptions): { model: string; version: string; envs: string[] }[] {
  const out: { model: string; version: string; envs: string[] }[] = [];
  for (const name of Object.keys(lock.models).sort()) {
    if (o.models && !o.models.includes(name)) continue;
    const model = lock.models[name];
    if (!model) continue;
    const ids = versionsOldestFirst(model);
    for (const version of ids) {
      const envs = Object.keys(model.pins)
        .filter((env) => model.pins[env] === version)
        .sort();
      const wanted = o.envs ? envs.some((e) => o.envs?.includes(e)) : envs.length > 0;
      if (o.all || wanted) out.push({ model: name, version, envs });
    }
  }
  return out;
}

/**
 * Verify the artifacts of `lock`: per version, rootDigest must equal the sum
 * of its digests, and each file fetched from `artifactUri` (local path or
 * `file:` relative to `lockDir`, `mlflow-artifacts:/`, http(s), `s3://`) must hash to
 * its recorded sha256. Files are checked one at a time, streamed.
 */
export async function verifyLock(lock: Lock, options: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = { ok: true, versions: [], problems: [] };
  const store: ArtifactStoreOptions = { ...options, baseDir: options.lockDir };
  for (const t of targets(lock, options)) {
    const entry = lock.models[t.model]?.versions[t.version];
    if (!entry) continue;
    const about = `model "${t.model}" version ${t.version}: `;
    const before = report.problems.length;
    const root = rootDigest(entry.digests);
    if (root !== entry.rootDigest) {
      report.problems.push({
        ...t,
        expected: entry.rootDigest,
        actual: root,
        message: `${about}the file digests add up to ${root}, expected rootDigest ${entry.rootDigest}`,
      });
    }
    const files = Object.keys(entry.digests).sort();
    for (const file of files) {
      const expected = entry.digests[file] as string;
      try {
        const got = await hashArtifactFile(entry.artifactUri, file, store);
        if (got.sha256 !== expected) {
          report.problems.push({
            model: t.model,
            version: t.version,
            file,
            source: got.source,
            expected,
            actual: got.sha256,
            message: digestMismatch(file, got.source, expected, got.sha256, about).message.split(
              '\n',
            )[0] as string,
          });
        }
      } catch (e) {
        if (!isProjectError(e)) throw e;
        report.problems.push({
          model: t.model,
          version: t.version,
          file,
          expected,
          message: `${about}${e.message.split('\n')[0]}`,
        });
      }
    }
    const ok = report.problems.length === before;
    report.versions.push({ ...t, artifactUri: entry.artifactUri, files: files.length, ok });
    if (!ok) report.ok = false;
  }
  return report;
}

/** Human-readable lines of a report: one per version, then each problem. */
export function formatVerifyReport(report: VerifyReport): string {
  if (report.versions.length === 0) return 'nothing to verify: no pinned versions\n';
  const lines = report.versions.map(
    (v) =>
      `${v.ok ? 'ok  ' : 'FAIL'} ${v.model} version ${v.version}${v.envs.length ? ` (${v.envs.join(', ')})` : ''}: ${v.files} files from ${v.artifactUri}`,
  );
  for (const p of report.problems) lines.push(`  - ${p.message}`);
  return `${lines.join('\n')}\n`;
}
