/**
 * The compiled training step (./compiled-step.ts) trains as tfjs's
 * trainOnBatch does: from the same weights, on the same batch, the same
 * loss, accuracy, weights and batch-norm moving statistics after each step,
 * for each builder's architecture (small-cnn, deep-cnn with batch norm,
 * airbench with its frozen whitening layer, scale-less batch norm and SGD
 * with per-weight rates). Its dropout is a function of the seed and the
 * step. A layer without a compiled form, or a backend other than the native
 * one, keeps trainOnBatch and says why.
 */
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, TRAINING_ORDER } from '../model/backend.ts';
import { itNative, maxAbsDiff } from '../testing/native.ts';
import { adam } from './adam.ts';
import { planTrainingGraph, trainStepOf } from './compiled-step.ts';
import type { ModelConfig } from './config.ts';
import { buildModel, learningRateScales } from './models.ts';
import { sgd } from './sgd.ts';

afterAll(async () => {
  await tf.setBackend('cpu');
});

const CLASSES = 3;

/** A batch from a fixed formula, one-hot targets (label-smoothed when `smoothing`). */
function batch(n: number, size: number, channels: number, smoothing = 0) {
  const x = new Float32Array(n * size * size * channels);
  for (let i = 0; i < x.length; i++) x[i] = (Math.sin(i * 0.37) + Math.cos(i * 0.11)) * 0.7;
  const y = new Float32Array(n * CLASSES).fill(smoothing / CLASSES);
  for (let i = 0; i < n; i++) y[i * CLASSES + (i % CLASSES)]! += 1 - smoothing;
  return {
    xs: tf.tensor4d(x, [n, size, size, channels]),
    ys: tf.tensor2d(y, [n, CLASSES]),
  };
}

function build(model: ModelConfig, size: number, channels: 1 | 3): tf.LayersModel {
  return buildModel({ model, input: { width: size, height: size, channels }, numClasses: CLASSES, seed: 11 });
}

type Optim = 'adam' | 'sgd';

function optimizerFor(model: tf.LayersModel, kind: Optim): tf.Optimizer {
  if (kind === 'adam') return adam(0.01);
  return sgd({
    learningRate: 0.05,
    momentum: 0.85,
    nesterov: true,
    weightDecay: 1e-3,
    scales: learningRateScales(model, { batchNormBiasScale: 4 }),
  });
}

const CASES: {
  name: string;
  model: ModelConfig;
  size: number;
  channels: 1 | 3;
  optim: Optim;
  smoothing: number;
}[] = [
  {
    name: 'small-cnn (bias, relu, flatten, dense), Adam',
    model: { builder: 'small-cnn', filters: [4, 8], denseUnits: 8, dropout: 0 },
    size: 12,
    channels: 1,
    optim: 'adam',
    smoothing: 0,
  },
  {
    name: 'deep-cnn (batch norm, ReLU, global average pooling), Adam',
    model: { builder: 'deep-cnn', filters: [4, 8], denseUnits: 8, dropout: 0, batchNormMomentum: 0.9 },
    size: 8,
    channels: 3,
    optim: 'adam',
    smoothing: 0,
  },
  {
    name: 'airbench (frozen whitening, scale-less batch norm, global max pooling), SGD with rates, label smoothing',
    model: { builder: 'airbench', filters: [8, 8, 8], activation: 'relu' },
    size: 16,
    channels: 3,
    optim: 'sgd',
    smoothing: 0.2,
  },
];

describe('the compiled training step', () => {
  beforeAll(async () => {
    await selectBackend(TRAINING_ORDER, 'tensorflow').catch(() => undefined);
  });

  for (const c of CASES) {
    itNative(
      `trains as trainOnBatch does: ${c.name}`,
      async () => {
        const reference = build(c.model, c.size, c.channels);
        const compiled = build(c.model, c.size, c.channels);
        compiled.setWeights(reference.getWeights());
        const optimizers = [optimizerFor(reference, c.optim), optimizerFor(compiled, c.optim)];
        reference.compile({
          optimizer: optimizers[0]!,
          loss: 'categoricalCrossentropy',
          metrics: ['accuracy'],
        });
        compiled.compile({
          optimizer: optimizers[1]!,
          loss: 'categoricalCrossentropy',
          metrics: ['accuracy'],
        });
        const layers = await trainStepOf(reference, optimizers[0]!, { seed: 3, want: 'layers' });
        const graph = await trainStepOf(compiled, optimizers[1]!, { seed: 3 });
        expect(layers.kind).toBe('layers');
        // Adam updates inside the graph; SGD applies the gradients that come out of it.
        expect({ kind: graph.kind, note: graph.note, updateInGraph: graph.updateInGraph }).toEqual({
          kind: 'graph',
          note: undefined,
          updateInGraph: c.optim === 'adam',
        });
        const { xs, ys } = batch(6, c.size, c.channels, c.smoothing);
        for (let step = 0; step < 3; step++) {
          const a = await layers.run(xs, ys, step);
          const b = await graph.run(xs, ys, step);
          expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5 * Math.max(1, a.loss));
          expect(b.accuracy).toBe(a.accuracy);
          // Every weight, the moving statistics included: same to float32 round-off.
          reference.weights.forEach((w, i) => {
            const x = w.read().dataSync();
            const y = compiled.weights[i]!.read().dataSync();
            const scale = Math.max(1, ...Array.from(x, Math.abs));
            expect({ weight: w.name, step, off: maxAbsDiff(x, y) / scale < 1e-4 }).toEqual({
              weight: w.name,
              step,
              off: true,
            });
          });
        }
        // A step leaves no tensor behind (the optimizers made their slots in the first).
        const before = tf.memory().numTensors;
        await graph.run(xs, ys, 3);
        await layers.run(xs, ys, 3);
        expect(tf.memory().numTensors).toBe(before);
        graph.dispose();
        tf.dispose([xs, ys]);
        reference.dispose();
        compiled.dispose();
      },
      60_000,
    );
  }

  itNative(
    'draws its dropout from the seed and the step: same step, same masks; another step, others',
    async () => {
      const config: ModelConfig = { builder: 'small-cnn', filters: [4], denseUnits: 16, dropout: 0.5 };
      const weightsAfter = async (step: number) => {
        const model = build(config, 8, 1);
        const optimizer = adam(0.01);
        model.compile({ optimizer, loss: 'categoricalCrossentropy' });
        const s = await trainStepOf(model, optimizer, { seed: 9 });
        expect(s.kind).toBe('graph');
        const { xs, ys } = batch(8, 8, 1);
        const { loss } = await s.run(xs, ys, step);
        s.dispose();
        tf.dispose([xs, ys]);
        const out = { loss, weights: model.getWeights().map((w) => Array.from(w.dataSync())) };
        model.dispose();
        return out;
      };
      const a = await weightsAfter(5);
      const b = await weightsAfter(5);
      const c = await weightsAfter(6);
      expect(b).toEqual(a);
      expect(c.loss).not.toBe(a.loss);
    },
    60_000,
  );

  itNative('keeps trainOnBatch, saying why, for a layer it cannot compile', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: 'tanh' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: CLASSES, activation: 'softmax' }),
      ],
    });
    const plan = planTrainingGraph(model);
    expect(plan).toEqual({ unsupported: expect.stringMatching(/activation tanh/) });
    const optimizer = adam(0.01);
    model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const step = await trainStepOf(model, optimizer, { seed: 1 });
    expect(step).toMatchObject({ kind: 'layers', note: expect.stringMatching(/activation tanh/) });
    const { xs, ys } = batch(4, 6, 1);
    expect(Number.isFinite((await step.run(xs, ys, 0)).loss)).toBe(true);
    tf.dispose([xs, ys]);
    model.dispose();
  });

  itNative('keeps trainOnBatch on a backend other than the native one', async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    try {
      const model = build(CASES[0]!.model, 12, 1);
      const optimizer = adam(0.01);
      model.compile({ optimizer, loss: 'categoricalCrossentropy' });
      const step = await trainStepOf(model, optimizer, { seed: 1 });
      expect(step).toMatchObject({
        kind: 'layers',
        note: 'a compiled step needs the native backend, this is cpu',
      });
      model.dispose();
    } finally {
      await selectBackend(TRAINING_ORDER, 'tensorflow');
    }
  });
});
