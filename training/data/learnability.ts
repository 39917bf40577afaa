/**
 * Learnability probe of the demo data set: a small CNN (conv 8 → pool →
 * conv 16 → pool → dense) trained on 16x16 grayscale shapes, and its test
 * accuracy. Weights are seeded and batches unshuffled, so one backend gives
 * one result. Run it as its own process (`tsx training/data/learnability.ts
 * <folder>` prints JSON): under jest's module sandbox the pure-JS tfjs
 * backend runs many times slower.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend, TRAINING_ORDER } from '../../model/backend.ts';
import { defaultSpecFor, preprocessBatch } from '../../model/preprocessing.ts';
import { isMain, runMain } from '../../platform/index.ts';
import { adam } from '../adam.ts';
import { loadDataSource } from './source.ts';
import { splitDataset } from './split.ts';

export interface ProbeOptions {
  root: string;
  seed?: number;
  perClass?: number;
  epochs?: number;
  onEpoch?: (epoch: number, loss: number | undefined) => void;
}

export interface ProbeResult {
  accuracy: number;
  train: number;
  test: number;
  epochs: number;
}

/** Generate (or reuse) the shapes in `root`, train the probe CNN, return its test accuracy. */
export async function probeLearnability(opts: ProbeOptions): Promise<ProbeResult> {
  const seed = opts.seed ?? 7;
  const epochs = opts.epochs ?? 14;
  const ds = await loadDataSource({
    kind: 'generated',
    path: opts.root,
    seed,
    perClass: opts.perClass ?? 150,
  });
  const split = splitDataset(ds, { seed, validation: 0, test: 0.25 });
  const spec = defaultSpecFor({ width: 16, height: 16, channels: 1 });
  const xs = preprocessBatch(
    split.train.map((i) => i.image),
    spec,
  );
  const ys = tf.oneHot(
    split.train.map((i) => i.label),
    ds.labels.length,
  );
  const xt = preprocessBatch(
    split.test.map((i) => i.image),
    spec,
  );
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const conv = (filters: number, s: number) =>
    tf.layers.conv2d({
      filters,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: init(s),
    });
  const model = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: [16, 16, 1] }),
      conv(8, 1),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(16, 2),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: ds.labels.length, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
  try {
    model.compile({ optimizer: adam(0.01), loss: 'categoricalCrossentropy' });
    await model.fit(xs, ys, {
      epochs,
      batchSize: 32,
      shuffle: false,
      verbose: 0,
      callbacks: { onEpochEnd: (epoch, logs) => opts.onEpoch?.(epoch, logs?.loss) },
    });
    const predicted = tf.tidy(() => (model.predict(xt) as tf.Tensor).argMax(-1).dataSync());
    const correct = split.test.filter((item, i) => predicted[i] === item.label).length;
    return {
      accuracy: correct / split.test.length,
      train: split.train.length,
      test: split.test.length,
      epochs,
    };
  } finally {
    tf.dispose([xs, ys, xt]);
    model.dispose();
  }
}

if (isMain(import.meta.url)) {
  await runMain(async () => {
    const root = process.argv[2];
    if (!root) {
      console.error('usage: tsx training/data/learnability.ts <folder> [epochs]');
      return 2;
    }
    // The fastest training backend that loads (native where set up): the probe is a test's child process.
    const backend = await selectBackend(TRAINING_ORDER);
    console.error(`backend ${backend.id}`);
    const started = Date.now();
    const result = await probeLearnability({
      root,
      epochs: process.argv[3] ? Number(process.argv[3]) : undefined,
      onEpoch: (e, loss) => console.error(`epoch ${e} loss ${loss?.toFixed(3)} ${Date.now() - started} ms`),
    });
    console.log(JSON.stringify(result));
    return 0;
  });
}
