/**
 * SGD with Nesterov momentum, weight decay and per-weight learning-rate
 * scales (training/sgd.ts): PyTorch's update computed by hand, the same on
 * pure JS (per weight) and on the native backend (one flat update), and the
 * airbench model's scales (batch-norm offsets, the folded head).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, TRAINING_ORDER } from '../model/backend.ts';
import { itNative, maxAbsDiff } from '../testing/native.ts';
import { buildModel, learningRateScales } from './models.ts';
import { sgd } from './sgd.ts';

afterAll(async () => {
  await tf.setBackend('cpu');
});

/** The update of PyTorch's SGD (no dampening) on plain numbers, for one weight vector. */
function reference(
  w0: number[],
  grads: number[][],
  o: { lr: number[]; momentum: number; nesterov: boolean; weightDecay: number; scale: number },
): number[] {
  const w = [...w0];
  const buf = w.map(() => 0);
  grads.forEach((g, t) => {
    for (let i = 0; i < w.length; i++) {
      const d = o.scale * (g[i] as number) + o.weightDecay * (w[i] as number);
      buf[i] = o.momentum * (buf[i] as number) + d;
      const step = o.nesterov ? d + o.momentum * (buf[i] as number) : (buf[i] as number);
      w[i] = (w[i] as number) - (o.lr[t] as number) * step;
    }
  });
  return w;
}

/** Apply three steps of fixed gradients to two variables (the second trained 4x faster). */
function steps(nesterov: boolean): { a: Float32Array; b: Float32Array } {
  const a = tf.variable(tf.tensor1d([1, -2, 0.5]), true, 'sgd_test_a');
  const b = tf.variable(tf.tensor2d([[0.3, 0.7]]), true, 'sgd_test_b');
  const opt = sgd({
    learningRate: 0.1,
    momentum: 0.85,
    nesterov,
    weightDecay: 0.01,
    scales: { sgd_test_b: 4 },
  });
  const ga = [
    [0.5, 0.1, -0.2],
    [0.4, -0.3, 0.1],
    [-0.1, 0.2, 0.3],
  ];
  const gb = [
    [1, -1],
    [0.5, 0.25],
    [-0.5, 2],
  ];
  const lrs = [0.1, 0.05, 0.02];
  for (let t = 0; t < 3; t++) {
    opt.learningRate = lrs[t] as number;
    const g = { sgd_test_a: tf.tensor1d(ga[t] as number[]), sgd_test_b: tf.tensor2d([gb[t] as number[]]) };
    opt.applyGradients(g);
    tf.dispose(Object.values(g));
  }
  const out = { a: Float32Array.from(a.dataSync()), b: Float32Array.from(b.dataSync()) };
  tf.dispose([a, b]);
  opt.dispose();
  return out;
}

function expected(nesterov: boolean) {
  const common = { lr: [0.1, 0.05, 0.02], momentum: 0.85, nesterov, weightDecay: 0.01 };
  return {
    a: reference(
      [1, -2, 0.5],
      [
        [0.5, 0.1, -0.2],
        [0.4, -0.3, 0.1],
        [-0.1, 0.2, 0.3],
      ],
      { ...common, scale: 1 },
    ),
    b: reference(
      [0.3, 0.7],
      [
        [1, -1],
        [0.5, 0.25],
        [-0.5, 2],
      ],
      { ...common, scale: 4 },
    ),
  };
}

describe('sgd (training/sgd.ts)', () => {
  it("is PyTorch's SGD update on pure JS: Nesterov and plain momentum, decay not scaled with the rate", async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    for (const nesterov of [true, false]) {
      const got = steps(nesterov);
      const want = expected(nesterov);
      expect(maxAbsDiff(got.a, want.a)).toBeLessThan(1e-6);
      expect(maxAbsDiff(got.b, want.b)).toBeLessThan(1e-6);
    }
  });

  itNative('gives the same numbers in one flat update on the native backend', async () => {
    await selectBackend(TRAINING_ORDER, 'tensorflow');
    for (const nesterov of [true, false]) {
      const got = steps(nesterov);
      const want = expected(nesterov);
      expect(maxAbsDiff(got.a, want.a)).toBeLessThan(1e-6);
      expect(maxAbsDiff(got.b, want.b)).toBeLessThan(1e-6);
    }
  });

  it('scales the airbench head by (1/9)^2 and every batch-norm offset by batchNormBiasScale', async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    const m = buildModel({
      model: { builder: 'airbench', filters: [8, 16] },
      input: { width: 16, height: 16, channels: 3 },
      numClasses: 4,
      seed: 1,
    });
    const scales = learningRateScales(m, { batchNormBiasScale: 64 });
    const betas = m.layers
      .filter((l) => l.getClassName() === 'BatchNormalization')
      .flatMap((l) => l.trainableWeights.map((w) => w.name));
    expect(betas).toHaveLength(4);
    expect(betas.every((b) => b.endsWith('beta'))).toBe(true);
    const head = m.layers[m.layers.length - 1]?.trainableWeights[0]?.name as string;
    expect(scales).toEqual({ ...Object.fromEntries(betas.map((b) => [b, 64])), [head]: 1 / 81 });
    // Nothing else trains at another rate, and the whitening layer does not train at all.
    expect(m.layers[0]?.trainable).toBe(false);
    expect(learningRateScales(m)).toEqual({ [head]: 1 / 81 });
    m.dispose();
  });
});
