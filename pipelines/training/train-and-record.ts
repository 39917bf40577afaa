/**
 * One training run as the pipeline runs it: train (training/), record the run
 * (MLflow when MLFLOW_TRACKING_URI is set, else the local store), and, when a
 * lock file is given, add the artifact as the model's next candidate version.
 * Used by `scripts/train.ts`, the CI wrapper, retraining and the demo.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { entryFromArtifact, LOCK_FILE_NAME, type LockedVersion, signVersionEntry } from '../../lock/index.ts';
import { signerFromEnv } from '../../model/signing/sign.ts';
import { ProjectError } from '../../platform/errors.ts';
import { objectStoreFromEnv } from '../../platform/object-store/index.ts';
import type { TrainingConfig } from '../../training/config.ts';
import {
  MODEL_ARTIFACT_PATH,
  recorderFromEnv,
  type SourceInfo,
  sourceTags,
  type TrackingResult,
  trackingCallbacks,
} from '../../training/tracking/index.ts';
import { type TrainOptions, type TrainResult, train } from '../../training/train.ts';
import { lockCandidate } from './candidate.ts';
import { prepareGolden } from './golden.ts';

export interface TrainAndRecordOptions extends Omit<TrainOptions, 'callbacks' | 'gitCommit'> {
  config: TrainingConfig;
  /**
   * Environment (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, TRACKING_LOCAL_STORE,
   * OBJECT_STORE_* and AWS_* for data and artifacts in the object store...).
   */
  env: Record<string, string | undefined>;
  /** Working folder: base of the local run store. */
  cwd: string;
  /** Commit, branch, PR of the run (tags in MLflow, gitCommit in the lock). */
  source?: SourceInfo;
  /** MLflow experiment; default the config's name. */
  experiment?: string;
  /** Registered model name and lock model name; default the config's name. */
  modelName?: string;
  /** Add the artifact to this lock file as a new version. */
  lockPath?: string;
  /** Aliases for the registered version; default ["candidate"]. */
  aliases?: string[];
  /** The environment whose pinned version is scored on the golden set beside the candidate (default prod). */
  championEnv?: string;
}

export interface TrainAndRecordResult {
  train: TrainResult;
  tracking: TrackingResult;
  /** The lock version added, when lockPath was given. */
  lockVersion?: string;
  /** The run's lock entry (added to the lock when lockPath was given). */
  lockEntry: LockedVersion;
  modelName: string;
  /** The tracking server's URL without credentials (MlflowConfig.trackingUri), when one is set: safe to print. */
  trackingUri?: string;
}

/**
 * Where the lock says the artifact lives: the run's `model/` folder on the
 * MLflow artifact proxy when the run reached the server, otherwise the local
 * artifact folder (relative to the lock file's folder when inside it).
 */
export function artifactUriFor(tracking: TrackingResult, artifactDir: string, lockPath: string): string {
  if (!tracking.offline && tracking.artifactUri.startsWith('mlflow-artifacts:')) {
    return `${tracking.artifactUri.replace(/\/+$/, '')}/${MODEL_ARTIFACT_PATH}`;
  }
  const rel = relative(resolve(lockPath, '..'), resolve(artifactDir));
  if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
  return resolve(artifactDir);
}

export async function trainAndRecord(options: TrainAndRecordOptions): Promise<TrainAndRecordResult> {
  // The object store the environment names (for s3:// data and artifacts), unless one is passed in.
  const ownStore = options.objectStore ? undefined : objectStoreFromEnv(options.env);
  try {
    return await trainAndRecordWith(ownStore ? { ...options, objectStore: ownStore } : options);
  } finally {
    ownStore?.close();
  }
}

/** The golden set and the champion's score (./golden.ts), then the run itself, its events sent to tracking. */
async function trainTracked(
  options: TrainAndRecordOptions,
  run: {
    modelName: string;
    source: SourceInfo;
    hooks: ReturnType<typeof trackingCallbacks>;
    lockPath: string;
    log: (line: string) => void;
  },
): Promise<TrainResult> {
  const { config, env } = options;
  const { modelName, source, hooks, lockPath, log } = run;
  // The golden set and the champion's score first: a golden set that is not the pinned one stops here.
  const golden = await prepareGolden({
    config,
    ...(options.configPath ? { configPath: options.configPath } : {}),
    model: modelName,
    lockPath,
    ...(options.championEnv ? { championEnv: options.championEnv } : {}),
    env,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.objectStore ? { objectStore: options.objectStore } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    log,
  });
  return train(config, {
    ...options,
    ...(golden ? { golden } : {}),
    gitCommit: source.prHeadSha ?? source.commit,
    callbacks: {
      onRunStart: (info) =>
        hooks.onRunStart({
          config: info.config,
          datasetDigest: info.datasetDigest,
          ...(info.dataset
            ? { dataset: { ...info.dataset, digest: info.datasetDigest, profile: { split: info.counts } } }
            : {}),
          backend: info.backend,
          runName: `${config.name}${source.prNumber ? `-pr${source.prNumber}` : ''}`,
        }),
      onEpochEnd: (epoch, metrics) => hooks.onEpochEnd(epoch, { ...metrics }),
      onRunEnd: async (r) => {
        await hooks.onRunEnd({ artifactDir: r.artifactDir });
      },
      onRunFailed: async (e) => {
        await hooks.onRunFailed(e);
      },
    },
  });
}

async function trainAndRecordWith(options: TrainAndRecordOptions): Promise<TrainAndRecordResult> {
  const { config, env, cwd } = options;
  const modelName = options.modelName ?? config.name;
  const log = options.log ?? ((line: string) => console.error(line));
  // The signer first: a missing or malformed key stops here, before the run.
  const signer = await signerFromEnv(env);
  const { recorder, trackingUri } = recorderFromEnv({ env, cwd, log });
  const source = options.source ?? {};
  const hooks = trackingCallbacks({
    recorder,
    experiment: options.experiment ?? config.name,
    modelName,
    aliases: options.aliases ?? ['candidate'],
    sourceTags: sourceTags(source),
    ...(trackingUri ? { uploadHintUri: trackingUri } : {}),
  });
  const lockPath = resolve(cwd, options.lockPath ?? LOCK_FILE_NAME);
  const result = await trainTracked(options, { modelName, source, hooks, lockPath, log });
  const tracking = hooks.result;
  if (!tracking) {
    throw new ProjectError('INVALID', 'the training run ended without a tracking result');
  }
  log(
    `tracking: run ${tracking.runId} ${tracking.offline ? 'in the local store' : 'on'} ${tracking.where}` +
      (tracking.modelVersion ? `, registered ${modelName} version ${tracking.modelVersion}` : ''),
  );
  // The lock entry is computed for every run: a Kubernetes Job hands it back to
  // the submitter, which adds it to its lock (scripts/train.ts --on kubernetes).
  const entry = await signVersionEntry(
    await entryFromArtifact(result.artifactDir, {
      uri: artifactUriFor(tracking, result.artifactDir, lockPath),
      runId: tracking.offline ? null : tracking.runId,
      modelVersion: tracking.modelVersion ?? null,
      trackingUri: tracking.offline ? null : (trackingUri ?? null),
      gitCommit: source.prHeadSha ?? source.commit ?? null,
    }),
    modelName,
    signer,
    log,
  );
  const out: TrainAndRecordResult = {
    train: result,
    tracking,
    modelName,
    lockEntry: entry,
    ...(trackingUri ? { trackingUri } : {}),
  };
  if (options.lockPath) out.lockVersion = await lockCandidate(lockPath, modelName, entry, log);
  return out;
}
