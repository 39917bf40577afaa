/**
 * Build a lock entry from an artifact folder (docs/artifact.md), reading only
 * digests.json, metrics.json and training.json; extra fields are ignored.
 * Every listed file is hashed first (model/artifact verifyArtifactDir), so a
 * corrupt folder is never locked.
 */
import { join } from 'node:path';
import { DIGESTS_FILE, verifyArtifactDir } from '../model/artifact/format.ts';
import { sha256 } from '../platform/digest.ts';
import { ProjectError } from '../platform/errors.ts';
import { readJsonFile } from '../platform/fs.ts';
import { stableStringify } from '../platform/json.ts';
import { hasCredentials, safeUrl } from '../platform/redact.ts';
import { compileValidator } from '../platform/schema.ts';
import { validateVersionEntry } from './schema.ts';
import type { LockedVersion } from './types.ts';

interface TrainingFile {
  createdAt: string;
  datasetDigest: string;
  config?: unknown;
  params?: unknown;
  paramsDigest?: string;
  gitCommit?: string;
  backend?: { id?: string; name?: string };
}

const validateTrainingFile = compileValidator<TrainingFile>({
  type: 'object',
  required: ['createdAt', 'datasetDigest'],
  properties: {
    createdAt: { type: 'string', format: 'date-time' },
    datasetDigest: { type: 'string', pattern: '^(sha256:)?[0-9a-f]{64}$' },
    paramsDigest: { type: 'string', pattern: '^(sha256:)?[0-9a-f]{64}$' },
    gitCommit: { type: 'string' },
    backend: { type: 'object' },
  },
});

const validateMetricsFile = compileValidator<Record<string, unknown>>({ type: 'object' });

export interface ArtifactEntryOptions {
  /** The artifactUri to record (where verify and serving will fetch the files). */
  uri: string;
  runId?: string | null;
  modelVersion?: string | null;
  trackingUri?: string | null;
  /** Overrides training.json `gitCommit`. */
  gitCommit?: string | null;
}

/** A tracking URI as the lock records it: never with credentials (the lock is public). */
const withoutCredentials = (url: string) => (hasCredentials(url) ? safeUrl(url).replace(/\/+$/, '') : url);

const prefixed = (hex: string) => (hex.startsWith('sha256:') ? hex : `sha256:${hex}`);

/**
 * The lock entry of the artifact folder `dir`: digests and root from
 * digests.json (checked against the files), top-level numeric metrics from
 * metrics.json, createdAt, datasetDigest and the params digest (sha256 of
 * the stable JSON of `config`) from training.json.
 */
export async function entryFromArtifact(dir: string, options: ArtifactEntryOptions): Promise<LockedVersion> {
  const digestsPath = join(dir, DIGESTS_FILE);
  const digests = await verifyArtifactDir(dir);
  for (const needed of ['metrics.json', 'training.json']) {
    if (!digests.files[needed]) {
      throw new ProjectError('INVALID', `${digestsPath} does not list ${needed}`, {
        subject: digestsPath,
        hint: 'every artifact carries metrics.json and training.json (docs/artifact.md)',
      });
    }
  }
  const metricsPath = join(dir, 'metrics.json');
  const rawMetrics = validateMetricsFile(await readJsonFile(metricsPath), metricsPath);
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(rawMetrics)) {
    if (typeof v === 'number' && Number.isFinite(v) && /^[A-Za-z][A-Za-z0-9_.-]*$/.test(k)) metrics[k] = v;
  }
  const trainingPath = join(dir, 'training.json');
  const training = validateTrainingFile(await readJsonFile(trainingPath), trainingPath);
  const params = training.config ?? training.params;
  if (training.paramsDigest === undefined && params === undefined) {
    throw new ProjectError(
      'INVALID',
      `${trainingPath}: missing required field "config" (the training parameters)`,
      {
        subject: trainingPath,
      },
    );
  }
  const entry: LockedVersion = {
    artifactUri: options.uri,
    createdAt: training.createdAt,
    datasetDigest: prefixed(training.datasetDigest),
    digests: digests.files,
    rootDigest: digests.root,
    gitCommit: options.gitCommit !== undefined ? options.gitCommit : (training.gitCommit ?? null),
    metrics,
    mlflow: {
      runId: options.runId ?? null,
      modelVersion: options.modelVersion ?? null,
      ...(options.trackingUri ? { trackingUri: withoutCredentials(options.trackingUri) } : {}),
    },
    paramsDigest: training.paramsDigest
      ? prefixed(training.paramsDigest)
      : `sha256:${sha256(stableStringify(params))}`,
    // `id` tells tfjs-node-gpu from tfjs-node; artifacts from before it was recorded have only `name`
    ...(typeof (training.backend?.id ?? training.backend?.name) === 'string'
      ? { backend: (training.backend?.id ?? training.backend?.name) as string }
      : {}),
  };
  return validateVersionEntry(entry, `lock entry built from ${dir}`);
}
