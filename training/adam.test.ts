/**
 * The optimizer the trainers use: tfjs's Adam, updated in one flat step on
 * the native backend. Same numbers as tfjs's own Adam (per weight) on pure
 * JS and on the native backend; the learning rate the schedule sets is the
 * one it uses; its state reads back in tfjs's layout.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, TRAINING_ORDER } from '../model/backend.ts';
import { itNative, maxAbsDiff } from '../testing/native.ts';
import { adam, type FlatAdamOptimizer } from './adam.ts';
import { buildModel } from './models.ts';

afterAll(async () => {
  await tf.setBackend('cpu');
});

/** Weights after three steps at learning rates 0.01, 0.01, 0.003 (a schedule changing it), from fixed initial weights. */
async function train(optimizer: tf.Optimizer, initial?: Float32Array[]): Promise<Float32Array[]> {
  const m = buildModel({
    model: { builder: 'small-cnn', filters: [4, 8], denseUnits: 8, dropout: 0 },
    input: { width: 8, height: 8, channels: 1 },
    numClasses: 3,
    seed: 3,
  });
  if (initial) m.setWeights(initial.map((w, i) => tf.tensor(w, m.getWeights()[i]?.shape)));
  m.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const xs = tf.tensor4d(
    Float32Array.from({ length: 6 * 64 }, (_, i) => Math.sin(i * 0.3)),
    [6, 8, 8, 1],
  );
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 2, 1, 0], 'int32'), 3);
  for (const lr of [0.01, 0.01, 0.003]) {
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
    await m.trainOnBatch(xs, ys);
  }
  const out = m.getWeights().map((w) => Float32Array.from(w.dataSync()));
  tf.dispose([xs, ys]);
  m.dispose();
  return out;
}

/** The largest difference between two sets of weights. */
function weightsDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => maxAbsDiff(x, b[i] as Float32Array)));
}

let initial: Float32Array[];

describe('adam (training/adam.ts)', () => {
  it("is tfjs's Adam on pure JS (its own per-weight update)", async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    const m = buildModel({
      model: { builder: 'small-cnn', filters: [4, 8], denseUnits: 8, dropout: 0 },
      input: { width: 8, height: 8, channels: 1 },
      numClasses: 3,
      seed: 3,
    });
    initial = m.getWeights().map((w) => Float32Array.from(w.dataSync()));
    m.dispose();
    const got = await train(adam(0.01), initial);
    const want = await train(tf.train.adam(0.01), initial);
    expect(weightsDiff(got, want)).toBe(0);
  });

  itNative("updates all weights in one flat step on the native backend, with tfjs's numbers", async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    const js = await train(tf.train.adam(0.01), initial);
    await selectBackend(TRAINING_ORDER, 'tensorflow');
    const stock = await train(tf.train.adam(0.01), initial);
    const flat = adam(0.01);
    const got = await train(flat, initial);
    expect(weightsDiff(got, stock)).toBeLessThan(1e-6);
    expect(weightsDiff(got, js)).toBeLessThan(1e-4);
    // the steps moved the weights (not two untouched copies agreeing)
    expect(weightsDiff(got, initial)).toBeGreaterThan(1e-3);
    // its state reads back as tfjs's: iterations, then per-weight first and second moments
    const state = await flat.getWeights();
    expect(state[0]?.name).toBe('iter');
    expect(Array.from(await (state[0] as { tensor: tf.Tensor }).tensor.data())).toEqual([3]);
    expect(state).toHaveLength(1 + 2 * got.length);
    expect(state[1]?.name).toMatch(/\/m$/);
    expect(state[1 + got.length]?.name).toMatch(/\/v$/);
    expect(state[1]?.tensor.shape).toEqual([3, 3, 1, 4]);
    flat.dispose();
  });

  itNative('refuses to carry on, on another backend, an update it began on the native one', async () => {
    await selectBackend(TRAINING_ORDER, 'tensorflow');
    const o = adam(0.01) as FlatAdamOptimizer;
    const w = tf.variable(tf.ones([2]));
    o.applyGradients([{ name: w.name, tensor: tf.ones([2]) }]);
    expect(Array.from(await w.data())).toEqual([expect.closeTo(0.99, 6), expect.closeTo(0.99, 6)]);
    await selectBackend(TRAINING_ORDER, 'cpu');
    const w2 = tf.variable(tf.ones([2]));
    expect(() => o.applyGradients([{ name: w2.name, tensor: tf.ones([2]) }])).toThrow(
      "FlatAdamOptimizer: this optimizer updated on the native backend and cannot continue on 'cpu'; make a new one",
    );
  });
});
