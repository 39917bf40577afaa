/**
 * The fused native training ops compute what tfjs's composite ops compute:
 * batch normalisation in training mode (output, batch statistics and the
 * gradients in x, gamma and beta), the ReLU gradient and Step, on the native
 * backend against pure JS on the same inputs.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { itNative, maxAbsDiff } from '../../testing/native.ts';
import { selectBackend, TRAINING_ORDER } from '../backend.ts';
import { fusedBatchNormTraining, nativeKernelBackend } from './ops.ts';

afterAll(async () => {
  await tf.setBackend('cpu');
});

/** Deterministic values in about [-1.5, 2.5]: a skewed, non-centred batch. */
function values(n: number, k: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) + 0.5 + (i % 7) * 0.1);
}

const SHAPE: [number, number, number, number] = [4, 5, 3, 6];
const EPSILON = 1e-3;

/** y, mean, variance and d(sum(y * w))/d(x, gamma, beta), as plain arrays, from `bn` on the active backend. */
function batchNormCase(
  bn: (
    x: tf.Tensor4D,
    g: tf.Tensor1D,
    b: tf.Tensor1D,
  ) => { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor },
): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(values(4 * 5 * 3 * 6, 0.37), SHAPE);
    const gamma = tf.tensor1d(values(6, 1.3));
    const beta = tf.tensor1d(values(6, 2.1));
    // a non-uniform upstream gradient, so dx is not trivially zero
    const w = tf.tensor4d(values(4 * 5 * 3 * 6, 0.91), SHAPE);
    const { y, mean, variance } = bn(x, gamma, beta);
    const out = [y, mean, variance].map((t) => Float32Array.from(t.dataSync()));
    const grads = tf.grads((a, g, b) =>
      tf.sum(tf.mul(bn(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y, w)),
    )([x, gamma, beta]);
    tf.dispose([mean, variance]);
    return [...out, ...grads.map((t) => Float32Array.from(t.dataSync()))];
  });
}

/** tfjs-layers' training path: tf.moments, then tf.batchNorm. */
function composite(x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return { y: tf.batchNorm(x, mean, variance, b, g, EPSILON), mean, variance };
}

describe('fusedBatchNormTraining', () => {
  itNative(
    'gives the output, batch statistics and gradients of tf.moments + tf.batchNorm in pure JS',
    async () => {
      await selectBackend(TRAINING_ORDER, 'cpu');
      const want = batchNormCase(composite);
      await selectBackend(TRAINING_ORDER, 'tensorflow');
      const before = tf.memory().numTensors;
      const got = batchNormCase((x, g, b) => fusedBatchNormTraining(x, g, b, EPSILON));
      expect(tf.memory().numTensors).toBe(before);
      const names = ['y', 'mean', 'variance (biased)', 'dx', 'dgamma', 'dbeta'];
      const diffs = names.map((name, i) => [
        name,
        maxAbsDiff(got[i] as Float32Array, want[i] as Float32Array),
      ]);
      // float32 round-off only; a failure names each output that differs, with by how much
      expect(diffs.filter(([, d]) => !((d as number) < 1e-4))).toEqual([]);
      // the gradients are real (not zeros that would agree with anything)
      expect(Math.max(...(got[3] as Float32Array).map(Math.abs))).toBeGreaterThan(0.01);
    },
  );

  it('is refused with the backend it got when the backend is not native', async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    expect(nativeKernelBackend()).toBeUndefined();
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    expect(() => fusedBatchNormTraining(x, tf.ones([1]), tf.zeros([1]), EPSILON)).toThrow(
      "fusedBatchNormTraining needs the native backend, not 'cpu'",
    );
  });
});

describe('native Relu gradient and Step', () => {
  /** relu's gradient and step(x, alpha) on x with negatives, zeros and positives. */
  function reluCase(): Float32Array[] {
    return tf.tidy(() => {
      const x = tf.tensor1d([-2, -0.5, 0, 0.25, 3, -1e-7, 1e-7]);
      const dy = tf.tensor1d([1, 2, 3, 4, 5, 6, 7]);
      const [dx] = tf.grads((a) => tf.mul(tf.relu(a), dy))([x]);
      return [dx as tf.Tensor, tf.step(x), tf.step(x, 0.2)].map((t) => Float32Array.from(t.dataSync()));
    });
  }

  itNative('agree with pure JS, and Step keeps NaN', async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    const want = reluCase();
    await selectBackend(TRAINING_ORDER, 'tensorflow');
    const got = reluCase();
    expect(got.map((a) => Array.from(a))).toEqual(want.map((a) => Array.from(a)));
    expect(Array.from(got[0] as Float32Array)).toEqual([0, 0, 0, 4, 5, 0, 7]);
    const nan = tf.tidy(() => Array.from(tf.step(tf.tensor1d([NaN, -1, 1]), 0.5).dataSync()));
    expect(nan).toEqual([NaN, 0.5, 1]);
  });
});
