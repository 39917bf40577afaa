/**
 * The batch-norm layer the builders use: fused TensorFlow kernels when
 * training on the native backend, tfjs's own everywhere else, and saved as
 * the stock `BatchNormalization` either way. (That it computes the same
 * numbers as pure JS: backend-agreement.test.ts.)
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, TRAINING_ORDER } from '../model/backend.ts';
import { itNative } from '../testing/native.ts';
import { buildModel } from './models.ts';

afterAll(async () => {
  await tf.setBackend('cpu');
});

function model() {
  const m = buildModel({
    model: { builder: 'deep-cnn', filters: [4, 8], denseUnits: 8, dropout: 0 },
    input: { width: 8, height: 8, channels: 3 },
    numClasses: 3,
    seed: 5,
  });
  m.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  return m;
}

function data() {
  return {
    xs: tf.tensor4d(
      Float32Array.from({ length: 6 * 8 * 8 * 3 }, (_, i) => Math.cos(i * 0.21)),
      [6, 8, 8, 3],
    ),
    ys: tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3),
  };
}

/** The tfjs kernels one training step runs. */
async function kernelsOfOneStep(): Promise<Set<string>> {
  const m = model();
  const { xs, ys } = data();
  await m.trainOnBatch(xs, ys);
  const p = await tf.profile(async () => {
    await m.trainOnBatch(xs, ys);
  });
  tf.dispose([xs, ys]);
  m.dispose();
  return new Set(p.kernels.map((k) => k.name));
}

describe('batchNormalization (training/batch-norm.ts)', () => {
  itNative(
    "trains with TensorFlow's fused kernel on the native backend, with tfjs's composite ops elsewhere",
    async () => {
      await selectBackend(TRAINING_ORDER, 'cpu');
      const js = await kernelsOfOneStep();
      // pure JS: tf.moments, then tfjs's FusedBatchNorm kernel (which TensorFlow would run in inference mode only)
      expect(js.has('FusedBatchNorm')).toBe(true);
      await selectBackend(TRAINING_ORDER, 'tensorflow');
      const nativeKernels = await kernelsOfOneStep();
      // native: FusedBatchNormV3 and its gradient run under one custom-gradient scope, not as tfjs kernels
      expect(nativeKernels.has('FusedBatchNorm')).toBe(false);
      expect(nativeKernels.size).toBeGreaterThan(10);
    },
  );

  itNative('leaks no tensor across training steps on the native backend', async () => {
    await selectBackend(TRAINING_ORDER, 'tensorflow');
    const m = model();
    const { xs, ys } = data();
    await m.trainOnBatch(xs, ys);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await m.trainOnBatch(xs, ys);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xs, ys]);
    m.dispose();
  });

  it('saves as the stock BatchNormalization, which loads and predicts the same', async () => {
    await selectBackend(TRAINING_ORDER, 'cpu');
    const m = model();
    const { xs, ys } = data();
    await m.trainOnBatch(xs, ys);
    let saved: tf.io.ModelArtifacts = {};
    await m.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const topology = JSON.stringify(saved.modelTopology);
    expect(topology.match(/"class_name":"BatchNormalization"/g)).toHaveLength(4);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved));
    const stock = loaded.layers.find((l) => l.getClassName() === 'BatchNormalization');
    expect(stock?.constructor.name).toBe('BatchNormalization');
    const a = (m.predict(xs) as tf.Tensor).dataSync();
    const b = (loaded.predict(xs) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    tf.dispose([xs, ys]);
    m.dispose();
    loaded.dispose();
  });
});
