/**
 * The tfjs sides of the training benchmark (bench/training/main.ts): pure JS
 * and native CPU, each training over the shared batch order
 * (bench/training/workloads.ts) with the step training/loop.ts takes
 * (training/compiled-step.ts: one graph call on the native backend, else
 * trainOnBatch); the native side also op by op (trainOnBatch), to show what
 * the compiled step moves.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../../model/backend.ts';
import { adam } from '../../training/adam.ts';
import { type TrainStep, trainStepOf } from '../../training/compiled-step.ts';
import { buildModel } from '../../training/models.ts';
import { type EpochRecord, type SideResult, summarize } from './report.ts';
import type { Prepared, Workload } from './workloads.ts';

/** Samples/s of one training step on `n` images (after a warm-up step), on a throw-away model. */
async function probeStep(w: Workload, p: Prepared, n: number): Promise<number> {
  const c = w.config;
  const model = buildModel({ model: c.model, input: c.input, numClasses: p.classes, seed: c.seed });
  model.compile({ optimizer: adam(c.training.learningRate), loss: 'categoricalCrossentropy' });
  const size = p.shape[0] * p.shape[1] * p.shape[2];
  const xs = tf.tensor4d(p.train.x.subarray(0, n * size), [n, ...p.shape]);
  const ys = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: n }, (_, i) => p.train.labels[i] as number),
      'int32',
    ),
    p.classes,
  );
  try {
    await model.trainOnBatch(xs, ys);
    const t = performance.now();
    await model.trainOnBatch(xs, ys);
    return (n * 1000) / (performance.now() - t);
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}

/**
 * Train with tfjs on the active backend over the shared batch order, each
 * step as training/loop.ts takes it (`step` "graph"), or tfjs's trainOnBatch
 * (`step` "layers": the native side op by op).
 */
export async function trainTfjs(
  w: Workload,
  p: Prepared,
  choice: BackendChoice,
  epochs: { most: number; fewest: number },
  budgetSeconds: number,
  step: 'graph' | 'layers' = 'graph',
): Promise<SideResult> {
  const c = w.config;
  const detail = choice.tensorflow
    ? `${choice.package}, TensorFlow ${choice.tensorflow.version}`
    : choice.package;
  const side = choice.id === 'cpu' ? 'pure JS' : step === 'graph' ? 'native CPU' : 'native CPU, op by op';
  const bs = c.training.batchSize;
  const probe = Number.isFinite(budgetSeconds)
    ? await probeOverBudget(w, p, choice, budgetSeconds)
    : undefined;
  if (probe !== undefined) {
    return {
      side,
      detail: `${detail} (probe: one step of 4 images; one batch of ${bs} exceeds the ${budgetSeconds} s budget)`,
      samplesPerSecond: probe,
      epochs: [],
      timeToTarget: null,
      epochsToTarget: null,
      stoppedBy: 'budget',
    };
  }
  const model = buildModel({ model: c.model, input: c.input, numClasses: p.classes, seed: c.seed });
  model.setWeights(p.initial.map((v, i) => tf.tensor(v, model.getWeights()[i]?.shape)));
  const optimizer = adam(c.training.learningRate);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const trainStep = await trainStepOf(model, optimizer, { seed: c.seed, want: step });
  const how =
    trainStep.kind === 'graph'
      ? 'one graph call a step'
      : `trainOnBatch${trainStep.note && step === 'graph' && choice.id !== 'cpu' ? ` (${trainStep.note})` : ''}`;
  const records: EpochRecord[] = [];
  const samples: number[] = [];
  const run = { elapsed: 0, step: 0 };
  let stoppedBy: SideResult['stoppedBy'] = 'epochs';
  try {
    for (let e = 0; e < epochs.most; e++) {
      const t0 = performance.now();
      const epoch = await trainEpoch(w, p, trainStep, p.order[e] as Int32Array, run, t0, budgetSeconds);
      if (epoch.overBudget) stoppedBy = 'budget';
      const trainSeconds = (performance.now() - t0) / 1000;
      const acc = validationAccuracy(p, model);
      run.elapsed += (performance.now() - t0) / 1000;
      records.push({ epoch: e + 1, trainSeconds, elapsedSeconds: run.elapsed, valAccuracy: acc });
      samples.push(epoch.done);
      console.log(
        `  ${choice.id.padEnd(10)} epoch ${String(e + 1).padStart(2)}: ${(epoch.done / trainSeconds).toFixed(1)} samples/s, val acc ${acc.toFixed(3)}, ${run.elapsed.toFixed(1)} s`,
      );
      if ((acc >= w.target && e + 1 >= epochs.fewest) || stoppedBy === 'budget') break;
    }
  } finally {
    trainStep.dispose();
    model.dispose();
  }
  return summarize(side, `${detail}, ${how}`, records, samples, w.target, stoppedBy);
}

/**
 * One step can outlast the whole budget (pure JS on deep-cnn: seconds per
 * image). A probe step of a few images on a throw-away copy says whether one
 * batch fits; if not, its rate (samples/s) is the figure reported, else undefined.
 */
async function probeOverBudget(
  w: Workload,
  p: Prepared,
  choice: BackendChoice,
  budgetSeconds: number,
): Promise<number | undefined> {
  const bs = w.config.training.batchSize;
  const probe = await probeStep(w, p, 4);
  if (bs / probe <= budgetSeconds) return undefined;
  console.log(
    `  ${choice.id.padEnd(10)} probe: ${probe.toFixed(2)} samples/s; a batch of ${bs} would take ${(bs / probe).toFixed(0)} s, over the ${budgetSeconds} s budget`,
  );
  return probe;
}

/**
 * One epoch started at `t0`: a step per batch of `order` (dropout seeded by
 * the step, counted in `run.step`, as the trainer does), stopping early once
 * the run's time passes the budget. The images trained on, and whether it stopped for the budget.
 */
async function trainEpoch(
  w: Workload,
  p: Prepared,
  trainStep: TrainStep,
  order: Int32Array,
  run: { elapsed: number; step: number },
  t0: number,
  budgetSeconds: number,
): Promise<{ done: number; overBudget: boolean }> {
  const size = p.shape[0] * p.shape[1] * p.shape[2];
  const bs = w.config.training.batchSize;
  let done = 0;
  for (let b = 0; b < order.length; b += bs) {
    const idx = order.subarray(b, Math.min(order.length, b + bs));
    const x = new Float32Array(idx.length * size);
    const y = new Float32Array(idx.length * p.classes);
    idx.forEach((k, i) => {
      x.set(p.train.x.subarray(k * size, (k + 1) * size), i * size);
      y[i * p.classes + (p.train.labels[k] as number)] = 1;
    });
    const xs = tf.tensor4d(x, [idx.length, ...p.shape]);
    const ys = tf.tensor2d(y, [idx.length, p.classes]);
    await trainStep.run(xs, ys, run.step++);
    xs.dispose();
    ys.dispose();
    done += idx.length;
    if ((performance.now() - t0) / 1000 + run.elapsed > budgetSeconds) return { done, overBudget: true };
  }
  return { done, overBudget: false };
}

/** Top-1 accuracy on the validation split. */
function validationAccuracy(p: Prepared, model: tf.LayersModel): number {
  return tf.tidy(() => {
    const probs = model.predict(tf.tensor4d(p.validation.x, [p.validation.count, ...p.shape]), {
      batchSize: 256,
    }) as tf.Tensor;
    const pred = probs.argMax(1).dataSync();
    let ok = 0;
    pred.forEach((v, i) => {
      if (v === p.validation.labels[i]) ok++;
    });
    return ok / p.validation.count;
  });
}
