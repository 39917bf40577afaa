/**
 * `train(config, options)`: the whole training run, from data to a verified
 * artifact folder. Backend selection → data load + digest → split →
 * preprocessing → model → training loop → evaluation on the test split →
 * reference statistics → plots → artifact export (docs/artifact.md).
 */

import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ArtifactDigests } from '../model/artifact/format.ts';
import { assertArtifactDirFree, writeArtifact } from '../model/artifact/write.ts';
import { type BackendChoice, type BackendName, selectBackend, TRAINING_ORDER } from '../model/backend.ts';
import { referenceStats } from '../model/drift/index.ts';
import { defaultSpecFor, type PreprocessingSpec, toModelInput } from '../model/preprocessing.ts';
import { ProjectError } from '../platform/index.ts';
import type { ObjectStore } from '../platform/object-store/index.ts';
import type { TrainingConfig } from './config.ts';
import {
  type Dataset,
  type LabeledImage,
  loadDataSource,
  type Split,
  type SplitRecord,
  splitDataset,
} from './data/index.ts';
import {
  argmaxRows,
  type ClassificationMetrics,
  classificationMetrics,
  predictProbabilities,
} from './evaluate.ts';
import { type ChampionScore, type GoldenSet, goldenEvaluation, predictGolden } from './golden.ts';
import {
  type ArrayData,
  type EpochMetrics,
  type LoopOptions,
  type LoopResult,
  lossAndAccuracy,
  runTrainingLoop,
  type TrainingCallbacks,
} from './loop.ts';
import { buildModel, initializeFromData } from './models.ts';
import { renderConfusionMatrix, renderLearningCurves } from './plots.ts';
import type { ProgressOptions } from './progress.ts';

export interface TrainOptions extends ProgressOptions {
  /** The artifact folder to write (must not exist or be empty, unless overwrite). */
  outDir: string;
  /** Overrides config.data.path (the `--data` flag). */
  dataPath?: string;
  /** Best checkpoints go here; default `<outDir>.checkpoints`. Removed after success unless keepCheckpoints. */
  checkpointDir?: string;
  keepCheckpoints?: boolean;
  /** Replace an existing artifact folder. */
  overwrite?: boolean;
  /** Abort (e.g. on SIGINT) to stop between batches, keeping the best checkpoint. */
  signal?: AbortSignal;
  callbacks?: TrainingCallbacks<TrainResult>;
  /** The git commit the config and code came from, recorded in training.json. */
  gitCommit?: string;
  /** Force one backend (TRAINING_BACKEND); default: the fastest that loads. */
  backend?: BackendName;
  /** Where the config came from, recorded in training.json. */
  configPath?: string;
  /** Clock for createdAt (tests). */
  now?: () => Date;
  /** Fetch for a data pointer's archive (tests). */
  fetch?: typeof fetch;
  /** The object store, for a data pointer whose archive is at an `s3://` URL. */
  objectStore?: ObjectStore;
  /** Passed to the training loop (training/loop.ts LoopOptions.afterEpoch): benchmarks score each epoch. */
  afterEpoch?: LoopOptions['afterEpoch'];
  /** Called once the data is split and the model built, just before the loop (benchmarks). */
  beforeLoop?: (run: RunContext) => void | Promise<void>;
  /**
   * Score the trained model on this golden set and write golden.json, with
   * the champion's predictions on the same set (scored by the caller).
   */
  golden?: { set: GoldenSet; champion?: ChampionScore };
}

export interface TrainResult {
  name: string;
  artifactDir: string;
  digests: ArtifactDigests;
  /** Hex root digest of the artifact (digests.json `root`). */
  rootDigest: string;
  metrics: ClassificationMetrics;
  backend: BackendChoice;
  /** "sha256:<hex>" of the dataset. */
  datasetDigest: string;
  split: SplitRecord;
  epochsRun: number;
  bestEpoch: number;
  stoppedEarly: boolean;
  history: EpochMetrics[];
  samplesPerSecond: number;
  durationSeconds: number;
}

/** What {@link TrainOptions.beforeLoop} is shown: the run's data and its model before training. */
export interface RunContext {
  dataset: Dataset;
  split: Split;
  spec: PreprocessingSpec;
  /** Built and initialised (whitening set), not yet trained; the callee must not train it. */
  model: tf.LayersModel;
  /** The test split as the model takes it. */
  test: ArrayData;
}

/** training.json */
export interface TrainingRecord {
  name: string;
  createdAt: string;
  gitCommit?: string;
  configPath?: string;
  config: TrainingConfig;
  dataPath: string;
  datasetDigest: string;
  dataset: {
    source: Dataset['source'];
    /** Dataset name; the data pointer file and its archive URL when the data came through one. */
    name?: string;
    pointer?: string;
    uri?: string;
    /** When only part of the data was read (data.maxPerClass): what was selected, and the digest of the whole (the pointer's). */
    selection?: Record<string, number>;
    wholeDigest?: string;
    labels: string[];
    files: number;
    items: number;
  };
  split: SplitRecord;
  backend: BackendChoice;
  tfjsVersion: string;
  seed: number;
  parameters: number;
  epochsRun: number;
  bestEpoch: number;
  stoppedEarly: boolean;
  history: EpochMetrics[];
}

/** Preprocess images into one HWC float array. */
export function toArrayData(items: readonly LabeledImage[], spec: PreprocessingSpec): ArrayData {
  const size = spec.width * spec.height * spec.channels;
  const x = new Float32Array(items.length * size);
  items.forEach((it, i) => {
    x.set(toModelInput(it.image, spec), i * size);
  });
  return { x, labels: Int32Array.from(items, (it) => it.label), count: items.length };
}

/**
 * Train the model `config` describes and export its artifact to
 * `options.outDir`. Calls `onRunStart` once the data is loaded, `onEpochEnd`
 * every epoch, then `onRunEnd(result)` or `onRunFailed(error)`.
 */
export async function train(config: TrainingConfig, options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => console.error(line));
  const outDir = resolve(options.outDir);
  const checkpointDir = resolve(
    options.checkpointDir ?? join(dirname(outDir), `${basename(outDir)}.checkpoints`),
  );
  const cb = options.callbacks ?? {};
  let model: tf.LayersModel | undefined;
  try {
    await assertArtifactDirFree(outDir, options.overwrite);
    const backend = await selectBackend(TRAINING_ORDER, options.backend);
    log(backendLine(backend));
    const data = await loadSplitData(config, options, log);
    const { dataset, split } = data;
    await cb.onRunStart?.({
      name: config.name,
      seed: config.seed,
      backend: backend.id,
      datasetDigest: dataset.digest.root,
      ...(dataset.origin ? { dataset: dataset.origin } : {}),
      counts: split.record.counts,
      config,
    });
    model = buildModel({
      model: config.model,
      input: config.input,
      numClasses: dataset.labels.length,
      seed: config.seed,
    });
    const run = await fitAndEvaluate(model, config, options, data, { checkpointDir, log });
    const { loop, metrics } = run;
    const record = trainingRecord(config, options, data, { backend, parameters: model.countParams(), loop });
    const digests = await writeRunArtifact(outDir, config, options, data, { ...run, model, record });
    if (!options.keepCheckpoints) await rm(checkpointDir, { recursive: true, force: true });
    const result: TrainResult = {
      name: config.name,
      artifactDir: outDir,
      digests,
      rootDigest: digests.root,
      metrics,
      backend,
      datasetDigest: dataset.digest.root,
      split: split.record,
      epochsRun: loop.epochsRun,
      bestEpoch: loop.bestEpoch,
      stoppedEarly: loop.stoppedEarly,
      history: loop.history,
      samplesPerSecond: loop.samplesPerSecond,
      durationSeconds: (performance.now() - started) / 1000,
    };
    await cb.onRunEnd?.(result);
    return result;
  } catch (e) {
    try {
      await cb.onRunFailed?.(e);
    } catch (hookError) {
      log(`onRunFailed hook failed too: ${(hookError as Error)?.message ?? String(hookError)}`);
    }
    throw e;
  } finally {
    model?.dispose();
  }
}

/** The log line that names the backend chosen and the ones skipped. */
function backendLine(backend: BackendChoice): string {
  const tensorflow = backend.tensorflow
    ? `, TensorFlow ${backend.tensorflow.version}${backend.tensorflow.gpu ? ' on the GPU' : ''}`
    : '';
  const skipped = backend.skipped.length
    ? `; skipped ${backend.skipped.map((s) => `${s.package}: ${s.reason}`).join('; ')}`
    : '';
  return `backend: ${backend.id} (${backend.package}${tensorflow})${skipped}`;
}

/** The data of a run, loaded and split, and the preprocessing the model takes. */
interface RunData {
  dataPath: string;
  dataset: Dataset;
  split: Split;
  spec: PreprocessingSpec;
}

/** Load the data source (a folder, a pointer's archive), split it, and refuse an empty split. */
async function loadSplitData(
  config: TrainingConfig,
  options: TrainOptions,
  log: (line: string) => void,
): Promise<RunData> {
  const dataPath = resolve(options.dataPath ?? config.data.path);
  const dataset = await loadDataSource({
    kind: config.data.kind,
    path: dataPath,
    ...(config.data.pointer ? { pointer: config.data.pointer } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.objectStore ? { objectStore: options.objectStore } : {}),
    seed: config.seed,
    perClass: config.data.perClass,
    size: config.data.size,
    channels: config.data.channels,
    ...(config.data.maxPerClass !== undefined ? { maxPerClass: config.data.maxPerClass } : {}),
  });
  const split = splitDataset(dataset, { seed: config.seed, ...config.data.split });
  for (const part of ['train', 'validation', 'test'] as const) {
    if (split[part].length === 0) {
      throw new ProjectError(
        'INVALID',
        `${dataPath}: the ${part} split is empty (${dataset.items.length} images)`,
        {
          subject: `data.split`,
          hint: 'add images or raise data.split.validation / data.split.test',
        },
      );
    }
  }
  const { counts } = split.record;
  log(
    `data: ${dataset.source} ${dataPath}, ${dataset.items.length} images, ${dataset.labels.length} classes, ` +
      `digest ${dataset.digest.root}; split ${counts.train}/${counts.validation}/${counts.test}`,
  );
  return { dataPath, dataset, split, spec: defaultSpecFor(config.input) };
}

/** What training and evaluation gave: the loop's result, the test metrics, the golden set's, the validation probabilities. */
interface RunOutcome {
  loop: LoopResult;
  metrics: ClassificationMetrics;
  golden?: ReturnType<typeof goldenEvaluation>;
  validationProbs: Float32Array;
}

/**
 * Initialise the model from the training data, run the training loop, then
 * score the model on the test split, the golden set (when given) and the validation split.
 */
async function fitAndEvaluate(
  model: tf.LayersModel,
  config: TrainingConfig,
  options: TrainOptions,
  { dataset, split, spec }: RunData,
  { checkpointDir, log }: { checkpointDir: string; log: (line: string) => void },
): Promise<RunOutcome> {
  const shape = { height: spec.height, width: spec.width, channels: spec.channels };
  const numClasses = dataset.labels.length;
  const { batchSize } = config.training;
  const trainData = toArrayData(split.train, spec);
  const validationData = toArrayData(split.validation, spec);
  const testData = toArrayData(split.test, spec);
  initializeFromData(model, trainData.x, trainData.count, shape);
  await options.beforeLoop?.({ dataset, split, spec, model, test: testData });
  const loop = await runTrainingLoop({
    model,
    shape,
    numClasses,
    train: trainData,
    validation: validationData,
    training: config.training,
    augmentation: config.augmentation,
    seed: config.seed,
    checkpointDir,
    callbacks: options.callbacks ?? {},
    signal: options.signal,
    ...(options.afterEpoch ? { afterEpoch: options.afterEpoch } : {}),
    progress: options.progress,
    stream: options.stream,
    log,
  });
  const testProbs = predictProbabilities(model, testData.x, testData.count, shape, batchSize);
  const metrics = classificationMetrics(testData.labels, argmaxRows(testProbs, numClasses), dataset.labels, {
    split: 'test',
    loss: lossAndAccuracy(testProbs, testData.labels, numClasses).loss,
  });
  const golden = options.golden
    ? scoreGolden(model, spec, dataset.labels, options.golden, batchSize, log)
    : undefined;
  const validationProbs = predictProbabilities(
    model,
    validationData.x,
    validationData.count,
    shape,
    batchSize,
  );
  return { loop, metrics, ...(golden ? { golden } : {}), validationProbs };
}

/** Score the model on the golden set, beside the champion's score the caller gives. */
function scoreGolden(
  model: tf.LayersModel,
  spec: PreprocessingSpec,
  labels: string[],
  { set, champion }: NonNullable<TrainOptions['golden']>,
  batchSize: number,
  log: (line: string) => void,
): ReturnType<typeof goldenEvaluation> {
  const predicted = predictGolden(model, spec, labels, set, batchSize);
  const golden = goldenEvaluation(set, predicted, champion);
  const right = predicted.filter((p, i) => p === set.items[i]?.label).length;
  log(
    `golden set ${set.name}: ${set.items.length} examples, accuracy ${(right / set.items.length).toFixed(4)}` +
      (golden.champion
        ? `; champion ${golden.champion.version} scored too`
        : golden.championNote
          ? `; ${golden.championNote}`
          : ''),
  );
  return golden;
}

/** training.json of the run. */
function trainingRecord(
  config: TrainingConfig,
  options: TrainOptions,
  { dataPath, dataset, split }: RunData,
  { backend, parameters, loop }: { backend: BackendChoice; parameters: number; loop: LoopResult },
): TrainingRecord {
  const origin = dataset.origin;
  return {
    name: config.name,
    createdAt: (options.now?.() ?? new Date()).toISOString(),
    ...(options.gitCommit ? { gitCommit: options.gitCommit } : {}),
    ...(options.configPath ? { configPath: options.configPath } : {}),
    config,
    dataPath,
    datasetDigest: dataset.digest.root,
    dataset: {
      source: dataset.source,
      ...(origin ? { name: origin.name } : {}),
      ...(origin?.pointer ? { pointer: origin.pointer } : {}),
      ...(origin?.source.kind === 'http' ? { uri: origin.source.url } : {}),
      ...(origin?.source.kind === 's3' ? { uri: origin.source.uri } : {}),
      ...(dataset.digest.selection ? { selection: dataset.digest.selection } : {}),
      ...(dataset.digest.whole ? { wholeDigest: dataset.digest.whole } : {}),
      labels: dataset.labels,
      files: Object.keys(dataset.digest.files).length,
      items: dataset.items.length,
    },
    split: split.record,
    backend,
    tfjsVersion: tf.version.tfjs,
    seed: config.seed,
    parameters,
    epochsRun: loop.epochsRun,
    bestEpoch: loop.bestEpoch,
    stoppedEarly: loop.stoppedEarly,
    history: loop.history,
  };
}

/** Write the artifact folder (docs/artifact.md): the model, its statistics, metrics, record and plots. */
function writeRunArtifact(
  outDir: string,
  config: TrainingConfig,
  options: TrainOptions,
  { dataset, split, spec }: RunData,
  run: RunOutcome & { model: tf.LayersModel; record: TrainingRecord },
): Promise<ArtifactDigests> {
  const { loop, metrics, golden } = run;
  const title = `${config.name}: ${config.model.builder}`;
  return writeArtifact(
    outDir,
    {
      model: run.model,
      labels: dataset.labels,
      preprocessing: spec,
      referenceStats: referenceStats(
        split.train.map((it) => it.image),
        run.validationProbs,
        dataset.labels,
      ),
      metrics,
      training: run.record,
      confusionMatrixPng: renderConfusionMatrix(metrics, `${title}, test split`),
      learningCurvesPng: renderLearningCurves(loop.history, loop.bestEpoch, title),
      ...(golden ? { golden } : {}),
    },
    { overwrite: options.overwrite },
  );
}
