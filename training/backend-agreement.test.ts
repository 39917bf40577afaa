/**
 * The native TensorFlow backend (tfjs-node on libtensorflow from the PyPI
 * wheel, scripts/setup.d/70-tfjs-native.sh) computes what the pure-JS backend
 * computes: same weights in, same predictions and the same training steps out.
 * Also the fallbacks that TRAINING_BACKEND / SERVING_BACKEND force (cpu, wasm)
 * keep loading and agreeing. In CI the native backend is required.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { nativeManifestOf, SERVING_ORDER, selectBackend, TRAINING_ORDER } from '../model/backend.ts';
import { TENSORFLOW_VERSION } from '../model/native/layout.ts';
import { itNative, maxAbsDiff } from '../testing/native.ts';
import type { ModelConfig } from './config.ts';
import { buildModel } from './models.ts';
import { sgd } from './sgd.ts';

/** A batch of inputs and one-hot labels from a fixed formula (no RNG). */
function batch(n: number, h: number, w: number, c: number, classes: number) {
  const x = new Float32Array(n * h * w * c);
  for (let i = 0; i < x.length; i++) x[i] = (Math.sin(i * 0.37) + Math.cos(i * 0.11)) * 0.5;
  const y = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) y[i * classes + (i % classes)] = 1;
  return { x, y, shape: [n, h, w, c] as [number, number, number, number] };
}

interface Outcome {
  predictions: Float32Array;
  losses: number[];
  weights: Float32Array[];
}

/**
 * On the active backend: a model with the given weights, its predictions,
 * then `steps` Adam steps (trainOnBatch, as training/loop.ts does) and the
 * weights after them.
 */
async function run(
  model: ModelConfig,
  input: { width: number; height: number; channels: 1 | 3 },
  weights: Float32Array[],
  steps: number,
  optimizer: () => tf.Optimizer = () => tf.train.adam(0.01),
): Promise<Outcome> {
  const m = buildModel({ model, input, numClasses: 4, seed: 11 });
  m.setWeights(weights.map((w, i) => tf.tensor(w, m.getWeights()[i]?.shape)));
  const b = batch(8, input.height, input.width, input.channels, 4);
  const xs = tf.tensor4d(b.x, b.shape);
  const ys = tf.tensor2d(b.y, [8, 4]);
  const predictions = (m.predict(xs) as tf.Tensor).dataSync() as Float32Array;
  m.compile({ optimizer: optimizer(), loss: 'categoricalCrossentropy' });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push((await m.trainOnBatch(xs, ys)) as number);
  const after = m.getWeights().map((w) => Float32Array.from(w.dataSync()));
  tf.dispose([xs, ys]);
  m.dispose();
  return { predictions: Float32Array.from(predictions), losses, weights: after };
}

const CASES: {
  name: string;
  model: ModelConfig;
  input: { width: number; height: number; channels: 1 | 3 };
  /** Default Adam. Adam divides by the gradient's size, so a near-zero gradient's round-off can flip a step: SGD where that happens. */
  optimizer?: () => tf.Optimizer;
}[] = [
  {
    name: 'small-cnn (the demo builder)',
    model: { builder: 'small-cnn', filters: [4, 8], denseUnits: 16, dropout: 0 },
    input: { width: 16, height: 16, channels: 1 },
  },
  {
    name: 'deep-cnn (the cifar10 builder: conv blocks with batch norm)',
    model: { builder: 'deep-cnn', filters: [8, 16], denseUnits: 16, dropout: 0 },
    input: { width: 8, height: 8, channels: 3 },
  },
  {
    name: 'airbench (the cifar10 builder: batch norm without scale, max pooling, a head without bias)',
    model: { builder: 'airbench', filters: [8, 16], whitening: false },
    input: { width: 16, height: 16, channels: 3 },
    optimizer: () => sgd({ learningRate: 0.05, momentum: 0.85, nesterov: true, weightDecay: 0.001 }),
  },
];

let initial: Map<string, Float32Array[]>;
let cpu: Map<string, Outcome>;

beforeAll(async () => {
  await selectBackend(TRAINING_ORDER, 'cpu');
  initial = new Map();
  cpu = new Map();
  for (const c of CASES) {
    const m = buildModel({ model: c.model, input: c.input, numClasses: 4, seed: 11 });
    initial.set(
      c.name,
      m.getWeights().map((w) => Float32Array.from(w.dataSync())),
    );
    m.dispose();
    cpu.set(c.name, await run(c.model, c.input, initial.get(c.name) as Float32Array[], 3, c.optimizer));
  }
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('backend selection', () => {
  itNative(
    'picks the native backend for training and serving where it is set up, and records which',
    async () => {
      const training = await selectBackend(TRAINING_ORDER);
      expect(training).toMatchObject({
        id: 'tensorflow',
        name: 'tensorflow',
        package: '@tensorflow/tfjs-node',
        tensorflow: { version: TENSORFLOW_VERSION, gpu: false },
      });
      // no GPU package built here: skipped, with the step that would build it
      expect(training.skipped[0]?.package).toBe('@tensorflow/tfjs-node-gpu');
      expect(training.skipped[0]?.reason).toMatch(/71-tfjs-native-gpu\.sh|no GPU/);
      // selected again in the same process (tfjs-node already loaded): still recorded as tfjs-node,
      // not as "tfjs-node-gpu (on the CPU)" because the GPU package was skipped again
      expect(await selectBackend(SERVING_ORDER)).toMatchObject({
        id: 'tensorflow',
        package: '@tensorflow/tfjs-node',
      });
      expect(nativeManifestOf('@tensorflow/tfjs-node')).toMatchObject({
        variant: 'cpu',
        tensorflow: { package: 'tensorflow-cpu', version: TENSORFLOW_VERSION },
      });
    },
  );

  it('forces the pure-JS and wasm fallbacks by name, as TRAINING_BACKEND / SERVING_BACKEND do', async () => {
    const js = await selectBackend(TRAINING_ORDER, 'cpu');
    expect(js).toEqual({ id: 'cpu', name: 'cpu', package: '@tensorflow/tfjs (pure JS)', skipped: [] });
    const wasm = await selectBackend(SERVING_ORDER, 'wasm');
    expect(wasm).toMatchObject({ id: 'wasm', name: 'wasm', package: '@tensorflow/tfjs-backend-wasm' });
  });

  it('says why a forced GPU backend cannot load instead of falling back', async () => {
    await expect(selectBackend(TRAINING_ORDER, 'tensorflow-gpu')).rejects.toThrow(
      /no tfjs backend could be loaded: @tensorflow\/tfjs-node-gpu \((not installed|its native addon is not built|it loaded, but TensorFlow found no GPU)/,
    );
  });
});

describe.each(CASES)('same weights, same numbers: $name', (c) => {
  itNative('native predictions and three training steps match pure JS', async () => {
    await selectBackend(TRAINING_ORDER, 'tensorflow');
    const got = await run(c.model, c.input, initial.get(c.name) as Float32Array[], 3, c.optimizer);
    const want = cpu.get(c.name) as Outcome;
    // float32 with different summation orders (oneDNN vs JS loops): agreement to ~1e-5
    expect(maxAbsDiff(got.predictions, want.predictions)).toBeLessThan(1e-4);
    for (const [i, loss] of got.losses.entries()) expect(loss).toBeCloseTo(want.losses[i] as number, 4);
    for (const [i, w] of got.weights.entries()) {
      expect(maxAbsDiff(w, want.weights[i] as Float32Array)).toBeLessThan(1e-3);
    }
    // and the steps did change the weights (the comparison is not of two untouched copies)
    expect(
      maxAbsDiff(got.weights[0] as Float32Array, initial.get(c.name)?.[0] as Float32Array),
    ).toBeGreaterThan(1e-3);
  });

  it('wasm (the serving fallback) predicts what pure JS predicts', async () => {
    await selectBackend(SERVING_ORDER, 'wasm');
    const m = buildModel({ model: c.model, input: c.input, numClasses: 4, seed: 11 });
    m.setWeights(
      (initial.get(c.name) as Float32Array[]).map((w, i) => tf.tensor(w, m.getWeights()[i]?.shape)),
    );
    const b = batch(8, c.input.height, c.input.width, c.input.channels, 4);
    const p = tf.tidy(() => (m.predict(tf.tensor4d(b.x, b.shape)) as tf.Tensor).dataSync());
    m.dispose();
    expect(maxAbsDiff(p, (cpu.get(c.name) as Outcome).predictions)).toBeLessThan(1e-4);
  });
});
