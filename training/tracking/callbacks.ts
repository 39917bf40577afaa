import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetInput } from '../../platform/mlflow/index.ts';
import { flattenParams } from './flatten.ts';
import type { RunRecorder, TrackingResult } from './recorder.ts';

/** The dataset a run trained on, as training describes it (logged as an MLflow dataset input). */
export interface RunDataset {
  /** Dataset name: the pointer's `name`, or the data folder's name. */
  name: string;
  /** "sha256:<hex>" root digest of its files (the lock's `datasetDigest`). */
  digest: string;
  /** Where it came from: the pointer's URI, or the local folder. */
  source: { kind: 'http'; url: string } | { kind: 's3'; uri: string } | { kind: 'local'; path: string };
  /** The pointer file in the repository, when the data came through one. */
  pointer?: string;
  /** Summary numbers: files, classes, examples per class. */
  profile?: Record<string, unknown>;
}

/** MLflow's dataset digest is at most 36 characters (MAX_DATASET_DIGEST_SIZE): the first 32 hex digits. */
export const MLFLOW_DATASET_DIGEST_LENGTH = 32;

/**
 * The MLflow dataset input of a run's training data: `digest` is the first 32
 * hex digits of the dataset root digest (MLflow's limit), and the profile
 * carries the full `sha256:<hex>`, so that the run and the lock entry name the
 * same data. Source types follow MLflow's DatasetSource (`http` with `url`,
 * `s3` with `uri`, `local` with `uri`).
 */
export function datasetInput(d: RunDataset): DatasetInput {
  const source =
    d.source.kind === 'http'
      ? { url: d.source.url }
      : d.source.kind === 's3'
        ? { uri: d.source.uri }
        : { uri: d.source.path };
  return {
    dataset: {
      name: d.name,
      digest: d.digest.replace(/^sha256:/, '').slice(0, MLFLOW_DATASET_DIGEST_LENGTH),
      source_type: d.source.kind,
      source: JSON.stringify(source),
      profile: JSON.stringify({
        digest: d.digest,
        ...(d.pointer ? { pointer: d.pointer } : {}),
        ...d.profile,
      }),
    },
    tags: [{ key: 'mlflow.data.context', value: 'training' }],
  };
}

/** What training passes when a run starts (extra fields are ignored). */
export interface RunStartInfo {
  /** The training config: logged as params with dotted keys. */
  config?: unknown;
  datasetDigest?: string;
  /** The training data, logged as the run's dataset input. */
  dataset?: RunDataset;
  /** The tfjs backend in use (tensorflow, wasm, cpu...). */
  backend?: string;
  runName?: string;
}

/** Per-epoch metrics as tfjs reports them; missing or non-finite values are skipped. */
export type EpochMetrics = Partial<Record<'loss' | 'accuracy' | 'val_loss' | 'val_accuracy' | 'lr', number>> &
  Record<string, number | undefined>;

/** What training passes when a run ends. */
export interface RunEndResult {
  /** The exported artifact folder (docs/artifact.md): uploaded whole under `model/`. */
  artifactDir: string;
  /** Final test metrics; when absent, the numeric top-level fields of `<artifactDir>/metrics.json`. */
  testMetrics?: Record<string, unknown>;
}

export interface TrackingCallbackOptions {
  recorder: RunRecorder;
  /** MLflow experiment name. */
  experiment: string;
  /** Registered model name. */
  modelName: string;
  /** Aliases to point at the new version (e.g. ["candidate"]). */
  aliases?: string[];
  /** Source tags (commit, branch, PR) from {@link sourceTags}. */
  sourceTags?: Record<string, string>;
  /** The tracking URI printed in the upload hint when the run ends up offline. */
  uploadHintUri?: string;
}

/** The artifact path under the run where the model folder goes. */
export const MODEL_ARTIFACT_PATH = 'model';

/**
 * The run recorder as training callbacks (`TrainingCallbacks` in training/):
 * onRunStart logs params and tags, onEpochEnd logs metrics with step = epoch,
 * onRunEnd logs test metrics, uploads the artifact folder under `model/`,
 * registers the model version and ends the run FINISHED; onRunFailed ends it
 * FAILED with the error message as a tag.
 */
export function trackingCallbacks(options: TrackingCallbackOptions) {
  const { recorder } = options;
  let result: TrackingResult | undefined;
  return {
    async onRunStart(info: RunStartInfo): Promise<void> {
      const tags: Record<string, string> = { ...options.sourceTags };
      if (info.datasetDigest) tags['dataset.digest'] = info.datasetDigest;
      if (info.dataset?.pointer) tags['dataset.pointer'] = info.dataset.pointer;
      if (info.backend) tags.backend = info.backend;
      await recorder.start({
        experiment: options.experiment,
        runName: info.runName,
        params: flattenParams(info.config ?? {}),
        tags,
      });
      if (info.dataset) await recorder.logInputs([datasetInput(info.dataset)]);
    },
    async onEpochEnd(epoch: number, metrics: EpochMetrics): Promise<void> {
      await recorder.logMetrics(metrics, epoch);
    },
    async onRunEnd(end: RunEndResult): Promise<TrackingResult> {
      const test = end.testMetrics ?? (await readTopLevelMetrics(join(end.artifactDir, 'metrics.json')));
      const numeric: Record<string, number> = {};
      for (const [k, v] of Object.entries(test)) if (typeof v === 'number') numeric[`test_${k}`] = v;
      await recorder.logMetrics(numeric, 0);
      await recorder.logArtifacts(end.artifactDir, MODEL_ARTIFACT_PATH);
      await recorder.registerModel(options.modelName, MODEL_ARTIFACT_PATH, options.aliases ?? []);
      result = await recorder.end('FINISHED', options.uploadHintUri);
      return result;
    },
    async onRunFailed(error: unknown): Promise<TrackingResult | undefined> {
      if (!recorder.runId) return undefined;
      const message = error instanceof Error ? error.message : String(error);
      await recorder.setTags({ 'error.message': message.slice(0, 5000) });
      result = await recorder.end('FAILED', options.uploadHintUri);
      return result;
    },
    /** The result of the run once it ended. */
    get result(): TrackingResult | undefined {
      return result;
    },
  };
}

async function readTopLevelMetrics(path: string): Promise<Record<string, unknown>> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
