/**
 * The training loop: seeded shuffling and augmentation, a learning-rate
 * schedule (per epoch: linear warm-up + cosine; per step: one-cycle), the
 * optimizer the config names (Adam, or SGD with per-weight rates), label
 * smoothing, optional Lookahead, validation after every epoch, best
 * checkpoint keeping, early stopping, progress output, callbacks, and
 * cancellation through an AbortSignal. A custom loop rather than
 * `model.fit`, because fit shuffles with Math.random and so cannot be
 * reproduced from a seed. Each step is one TensorFlow graph call on the
 * native backend (./compiled-step.ts), else `model.trainOnBatch`.
 *
 * @see https://js.tensorflow.org/api/latest/#tf.LayersModel.trainOnBatch
 */
import * as tf from '@tensorflow/tfjs';
import { ProjectError } from '../platform/index.ts';
import { adam } from './adam.ts';
import { augmentSample, type SampleShape } from './augment.ts';
import { type CheckpointInfo, loadBestCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { type TrainStep, trainStepOf } from './compiled-step.ts';
import type { AugmentationConfig, MonitorName, TrainingSection } from './config.ts';
import { type DatasetOrigin, mulberry32, type Rng } from './data/index.ts';
import { predictProbabilities } from './evaluate.ts';
import { Lookahead } from './lookahead.ts';
import { learningRateScales } from './models.ts';
import { createEpochProgress, type EpochProgress, type ProgressOptions } from './progress.ts';
import { learningRateAt, learningRateAtStep } from './schedule.ts';
import { sgd } from './sgd.ts';

/** Metrics of one epoch, as given to callbacks and kept in the history. */
export interface EpochMetrics {
  loss: number;
  accuracy: number;
  val_loss: number;
  val_accuracy: number;
  /** Learning rate at the epoch's first step (one-cycle changes it every step). */
  lr: number;
}

export interface RunStartInfo {
  name: string;
  seed: number;
  backend: string;
  datasetDigest: string;
  /** Where the data came from (name, source, pointer): the MLflow dataset input. */
  dataset?: DatasetOrigin;
  counts: { train: number; validation: number; test: number };
  /** The whole validated config, for logging as parameters. */
  config: unknown;
}

/**
 * Hooks for tracking (MLflow) and UIs. `onEpochEnd` is called by the loop
 * with the 1-based epoch; the others by `train()`. An error thrown by a hook
 * fails the run like any other error (the best checkpoint so far is kept).
 */
export interface TrainingCallbacks<Result = unknown> {
  onRunStart?(info: RunStartInfo): void | Promise<void>;
  onEpochEnd?(epoch: number, metrics: EpochMetrics): void | Promise<void>;
  onRunEnd?(result: Result): void | Promise<void>;
  onRunFailed?(error: unknown): void | Promise<void>;
}

/** Preprocessed samples in memory: `x` holds `count` HWC float samples back to back. */
export interface ArrayData {
  x: Float32Array;
  labels: ArrayLike<number>;
  count: number;
}

export interface LoopOptions extends ProgressOptions {
  model: tf.LayersModel;
  shape: SampleShape;
  numClasses: number;
  train: ArrayData;
  validation: ArrayData;
  training: TrainingSection;
  augmentation: AugmentationConfig;
  seed: number;
  /** Folder for best checkpoints (see ./checkpoint.ts). */
  checkpointDir: string;
  callbacks?: Pick<TrainingCallbacks, 'onEpochEnd'>;
  /** Abort to stop between batches; the run fails with INTERRUPTED naming the last checkpoint. */
  signal?: AbortSignal;
  /**
   * Called after each epoch's validation with the model as it is then (e.g.
   * a benchmark scoring it on the test set); its time counts in no figure
   * of the loop. It must not train the model.
   */
  afterEpoch?: (model: tf.LayersModel, epoch: number, metrics: EpochMetrics) => void | Promise<void>;
}

export interface LoopResult {
  history: EpochMetrics[];
  epochsRun: number;
  /** 1-based epoch whose weights the model now holds. */
  bestEpoch: number;
  best: CheckpointInfo;
  stoppedEarly: boolean;
  /** Training samples per second over the whole run (excluding validation). */
  samplesPerSecond: number;
}

function shuffleInPlace(a: Int32Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** Mean categorical cross-entropy (probabilities clipped as Keras does) and accuracy. */
export function lossAndAccuracy(
  probs: Float32Array,
  labels: ArrayLike<number>,
  numClasses: number,
): { loss: number; accuracy: number } {
  const n = labels.length;
  if (n === 0) return { loss: Number.NaN, accuracy: Number.NaN };
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = probs.subarray(i * numClasses, (i + 1) * numClasses);
    const y = labels[i]!;
    loss -= Math.log(Math.min(1 - 1e-7, Math.max(1e-7, row[y]!)));
    let arg = 0;
    for (let k = 1; k < numClasses; k++) if (row[k]! > row[arg]!) arg = k;
    if (arg === y) correct++;
  }
  return { loss: loss / n, accuracy: correct / n };
}

function interruptedError(epoch: number, best: CheckpointInfo | undefined, dir: string): ProjectError {
  return new ProjectError(
    'INTERRUPTED',
    `training interrupted during epoch ${epoch}; ${
      best
        ? `the last good checkpoint (epoch ${best.epoch}) is at ${best.path}`
        : `no checkpoint was written yet (${dir})`
    }`,
    {
      subject: best?.path ?? dir,
      hint: best ? `load it with loadModelFromDir('${best.path}')` : 'run the training again',
    },
  );
}

function failedError(e: unknown, epoch: number, best: CheckpointInfo | undefined, dir: string): Error {
  const where = best
    ? `the last good checkpoint (epoch ${best.epoch}) is at ${best.path}`
    : `no checkpoint was written yet (${dir})`;
  const message = `training failed during epoch ${epoch}: ${(e as Error)?.message ?? String(e)}\n  → ${where}`;
  if (e instanceof ProjectError) {
    return new ProjectError(e.code, message, { subject: e.subject, details: e.details, cause: e });
  }
  return new Error(message, { cause: e });
}

/** The optimizer the config names (Adam by default), with the model's per-weight learning-rate scales. */
export function makeOptimizer(model: tf.LayersModel, training: TrainingSection): tf.Optimizer {
  const o = training.optimizer ?? { name: 'adam' };
  const lr = learningRateAt(0, training);
  if (o.name === 'adam') return adam(lr);
  return sgd({
    learningRate: lr,
    momentum: o.momentum,
    nesterov: o.nesterov,
    weightDecay: o.weightDecay,
    scales: learningRateScales(model, { batchNormBiasScale: o.batchNormBiasScale }),
  });
}

/** Write the one-hot (or label-smoothed) target of `label` into row `i` of `y`. */
export function writeTarget(
  y: Float32Array,
  i: number,
  label: number,
  numClasses: number,
  smoothing = 0,
): void {
  const row = y.subarray(i * numClasses, (i + 1) * numClasses);
  if (smoothing > 0) row.fill(smoothing / numClasses);
  row[label] = (row[label] ?? 0) + (1 - smoothing);
}

/** What one run of the loop carries from batch to batch and epoch to epoch. */
interface LoopRun {
  o: LoopOptions;
  sampleSize: number;
  monitor: MonitorName;
  optimizer: tf.Optimizer;
  /** Label smoothing of the targets (0: one-hot). */
  smoothing: number;
  shuffleRng: Rng;
  augmentRng: Rng;
  progress: EpochProgress;
  lookahead?: Lookahead;
  /** The order of the training samples, shuffled each epoch. */
  order: Int32Array;
  batches: number;
  history: EpochMetrics[];
  /** The checkpoint of the best epoch so far. */
  best?: CheckpointInfo;
  /** The best monitored value that counted as an improvement (early stopping: minDelta). */
  bestValue: number;
  /** The monitored value of the saved checkpoint. */
  bestSaved: number;
  sinceImprovement: number;
  /** Batches trained so far (the schedule's step, dropout's seed). */
  step: number;
  /** How a step runs: one graph call, or trainOnBatch. */
  trainStep: TrainStep;
  trainMs: number;
}

/** Train `model` (compiled here with the config's optimizer) and leave the best epoch's weights in it. */
export async function runTrainingLoop(o: LoopOptions): Promise<LoopResult> {
  const run = await startRun(o);
  let stoppedEarly = false;
  let epoch = 0;
  try {
    for (epoch = 1; epoch <= o.training.epochs; epoch++) {
      const metrics = await trainEpoch(run, epoch);
      await o.callbacks?.onEpochEnd?.(epoch, metrics);
      await o.afterEpoch?.(o.model, epoch, metrics);
      if (await keepBest(run, epoch, metrics)) {
        stoppedEarly = epoch < o.training.epochs;
        break;
      }
    }
  } catch (e) {
    if (e instanceof ProjectError && e.code === 'INTERRUPTED') throw e;
    throw failedError(e, epoch, run.best, o.checkpointDir);
  } finally {
    run.lookahead?.dispose();
    run.trainStep.dispose();
  }
  const epochsRun = run.history.length;
  // Restore the best epoch's weights from its checkpoint.
  const { model: bestModel, info } = await loadBestCheckpoint(o.checkpointDir);
  o.model.setWeights(bestModel.getWeights());
  bestModel.dispose();
  return {
    history: run.history,
    epochsRun,
    bestEpoch: info.epoch,
    best: info,
    stoppedEarly,
    samplesPerSecond: run.trainMs > 0 ? (o.train.count * epochsRun * 1000) / run.trainMs : 0,
  };
}

/** The log line that says how a training step runs. */
function stepLine(step: TrainStep): string {
  return step.kind === 'graph'
    ? `training step: one TensorFlow graph call (forward, loss, gradients${step.updateInGraph ? ' and the Adam update' : ''}; training/compiled-step.ts)`
    : `training step: tfjs trainOnBatch, op by op${step.note ? `: ${step.note}` : ''}`;
}

/** Compile the model with the config's optimizer, make its training step and seed the run's random streams. */
async function startRun(o: LoopOptions): Promise<LoopRun> {
  const { model, shape, training, seed } = o;
  const monitor = training.earlyStopping.monitor ?? 'val_loss';
  const optimizer = makeOptimizer(model, training);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const trainStep = await trainStepOf(model, optimizer, { seed });
  (o.log ?? ((line: string) => console.error(line)))(stepLine(trainStep));
  const batches = Math.ceil(o.train.count / training.batchSize);
  const worst = monitor === 'val_loss' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return {
    o,
    sampleSize: shape.height * shape.width * shape.channels,
    monitor,
    optimizer,
    smoothing: training.labelSmoothing ?? 0,
    shuffleRng: mulberry32(seed + 1),
    augmentRng: mulberry32(seed + 2),
    progress: createEpochProgress(o),
    ...(training.lookahead
      ? { lookahead: new Lookahead(model, training.lookahead, batches * training.epochs) }
      : {}),
    order: Int32Array.from({ length: o.train.count }, (_, i) => i),
    batches,
    history: [],
    bestValue: worst,
    bestSaved: worst,
    sinceImprovement: 0,
    step: 0,
    trainStep,
    trainMs: 0,
  };
}

/** One epoch: the shuffled batches on the schedule, then the validation split; its metrics. */
async function trainEpoch(run: LoopRun, epoch: number): Promise<EpochMetrics> {
  const { o, progress, batches } = run;
  const { training, train, validation } = o;
  const lr = learningRateAtStep((epoch - 1) * batches, batches, training);
  shuffleInPlace(run.order, run.shuffleRng);
  progress.start(epoch, training.epochs, batches);
  let lossSum = 0;
  let correctSum = 0;
  const started = performance.now();
  for (let b = 0; b < batches; b++) {
    if (o.signal?.aborted) throw interruptedError(epoch, run.best, o.checkpointDir);
    const { loss, accuracy, n } = await trainBatch(run, epoch, b);
    lossSum += loss * n;
    correctSum += accuracy * n;
    progress.update(b + 1, loss);
  }
  run.lookahead?.afterEpoch();
  run.trainMs += performance.now() - started;
  const probs = predictProbabilities(o.model, validation.x, validation.count, o.shape, training.batchSize);
  const val = lossAndAccuracy(probs, validation.labels, o.numClasses);
  const metrics: EpochMetrics = {
    loss: lossSum / train.count,
    accuracy: correctSum / train.count,
    val_loss: val.loss,
    val_accuracy: val.accuracy,
    lr,
  };
  run.history.push(metrics);
  progress.end(
    `epoch ${epoch}/${training.epochs}  loss ${metrics.loss.toFixed(4)}  acc ${metrics.accuracy.toFixed(4)}  ` +
      `val_loss ${metrics.val_loss.toFixed(4)}  val_acc ${metrics.val_accuracy.toFixed(4)}  lr ${lr.toExponential(2)}`,
  );
  return metrics;
}

/**
 * Batch `b` of the epoch's order (augmented when enabled), one optimizer step
 * at the schedule's rate for this step; its loss and accuracy.
 */
async function trainBatch(
  run: LoopRun,
  epoch: number,
  b: number,
): Promise<{ loss: number; accuracy: number; n: number }> {
  const { o, sampleSize } = run;
  const { shape, numClasses, train, augmentation, training } = o;
  const from = b * training.batchSize;
  const n = Math.min(training.batchSize, train.count - from);
  const xb = new Float32Array(n * sampleSize);
  const yb = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const idx = run.order[from + i]!;
    const src = train.x.subarray(idx * sampleSize, (idx + 1) * sampleSize);
    const dst = xb.subarray(i * sampleSize, (i + 1) * sampleSize);
    if (augmentation.enabled) augmentSample(src, dst, shape, augmentation, run.augmentRng);
    else dst.set(src);
    writeTarget(yb, i, train.labels[idx]!, numClasses, run.smoothing);
  }
  (run.optimizer as unknown as { learningRate: number }).learningRate = learningRateAtStep(
    run.step,
    run.batches,
    training,
  );
  const xs = tf.tensor4d(xb, [n, shape.height, shape.width, shape.channels]);
  const ys = tf.tensor2d(yb, [n, numClasses]);
  try {
    const { loss, accuracy } = await run.trainStep.run(xs, ys, run.step++);
    run.lookahead?.afterStep(run.step, epoch - 1);
    return { loss, accuracy, n };
  } finally {
    xs.dispose();
    ys.dispose();
  }
}

/**
 * Save a checkpoint when the epoch is the best so far, and count the epochs
 * without improvement; true when early stopping ends the run here.
 */
async function keepBest(run: LoopRun, epoch: number, metrics: EpochMetrics): Promise<boolean> {
  const { o, monitor } = run;
  const { earlyStopping } = o.training;
  const better = (a: number, b: number, delta: number) =>
    monitor === 'val_loss' ? a < b - delta : a > b + delta;
  const value = metrics[monitor];
  if (!run.best || better(value, run.bestSaved, 0)) {
    run.best = await saveCheckpoint(o.model, o.checkpointDir, epoch, { ...metrics });
    run.bestSaved = value;
  }
  if (better(value, run.bestValue, earlyStopping.minDelta)) {
    run.bestValue = value;
    run.sinceImprovement = 0;
    return false;
  }
  return ++run.sinceImprovement >= earlyStopping.patience;
}
