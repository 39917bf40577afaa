/**
 * The airbench builder (training/models.ts): the network of the fast
 * CIFAR-10 recipe made of stock tfjs layers only, so that the server and
 * Keras load it unchanged; its initialisation (dirac filters, the whitening
 * layer from data, frozen) and its saved form.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, TRAINING_ORDER } from '../model/backend.ts';
import { loadModelFromDir, saveModelToDir } from '../model/model-io.ts';
import { maxAbsDiff } from '../testing/native.ts';
import { buildModel, initializeFromData, trainingHints } from './models.ts';

let dir: string;
beforeAll(async () => {
  await selectBackend(TRAINING_ORDER, 'cpu');
  dir = await mkdtemp(join(tmpdir(), 'airbench-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const input = { width: 32, height: 32, channels: 3 as const };

describe('airbench builder', () => {
  it('is whitening, then conv -> pool -> bn -> relu -> conv -> bn -> relu per block, global max pool, a linear head', () => {
    const m = buildModel({
      model: { builder: 'airbench', filters: [16, 32, 32] },
      input,
      numClasses: 10,
      seed: 1,
    });
    const kinds = m.layers.map((l) => l.getClassName());
    const block = [
      'Conv2D',
      'MaxPooling2D',
      'BatchNormalization',
      'ReLU',
      'Conv2D',
      'BatchNormalization',
      'ReLU',
    ];
    expect(kinds).toEqual(['Conv2D', 'ReLU', ...block, ...block, ...block, 'GlobalMaxPooling2D', 'Dense']);
    expect(m.outputs[0]?.shape).toEqual([null, 10]);
    // 32 -> 31 (2x2 whitening, no padding) -> 15 -> 7 -> 3 -> 1
    expect(m.layers[m.layers.length - 3]?.outputShape).toEqual([null, 3, 3, 32]);
    const whiten = m.layers[0] as tf.layers.Layer;
    expect(whiten.trainable).toBe(false);
    expect(trainingHints(m).whitening?.layer).toBe(whiten);
    // Batch norms keep no scale (gamma), only an offset; the head has no bias.
    const bn = m.layers[4] as tf.layers.Layer;
    expect(bn.weights.map((w) => w.originalName.split('/').pop())).toEqual([
      'beta',
      'moving_mean',
      'moving_variance',
    ]);
    expect(m.layers[m.layers.length - 1]?.weights).toHaveLength(1);
    m.dispose();
  });

  it('starts each conv filter whose index is below its input channels as the identity (dirac)', () => {
    const m = buildModel({
      model: { builder: 'airbench', filters: [16, 32] },
      input,
      numClasses: 4,
      seed: 2,
    });
    const conv2 = m.layers[6] as tf.layers.Layer; // the block's second conv: 16 -> 16, all identity
    expect(conv2.getClassName()).toBe('Conv2D');
    const k = conv2.getWeights()[0] as tf.Tensor4D;
    const v = k.arraySync();
    for (let i = 0; i < 16; i++)
      for (let j = 0; j < 16; j++)
        for (let y = 0; y < 3; y++)
          for (let x = 0; x < 3; x++) expect(v[y]![x]![i]![j]).toBe(y === 1 && x === 1 && i === j ? 1 : 0);
    m.dispose();
  });

  it('sets the whitening layer from training images, the same for the same images', () => {
    const x = Float32Array.from({ length: 20 * 32 * 32 * 3 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
    const weights = [1, 2].map(() => {
      const m = buildModel({ model: { builder: 'airbench', filters: [8] }, input, numClasses: 3, seed: 3 });
      initializeFromData(m, x, 20, { height: 32, width: 32, channels: 3 });
      const w = (m.layers[0] as tf.layers.Layer).getWeights().map((t) => Float32Array.from(t.dataSync()));
      m.dispose();
      return w;
    });
    expect(weights[0]?.[0]?.some((v) => v !== 0)).toBe(true);
    expect(weights[0]).toEqual(weights[1]);
  });

  it('saves as stock tfjs layers that load back (as the server loads them) with the same predictions', async () => {
    const m = buildModel({
      model: { builder: 'airbench', filters: [8, 16, 16] },
      input,
      numClasses: 10,
      seed: 4,
    });
    const out = join(dir, 'model');
    await saveModelToDir(m, out);
    const json = JSON.parse(await readFile(join(out, 'model.json'), 'utf8')) as {
      modelTopology: { config: { layers: { class_name: string }[] } };
    };
    const stock = [
      'Conv2D',
      'ReLU',
      'MaxPooling2D',
      'BatchNormalization',
      'GlobalMaxPooling2D',
      'Dense',
      'Activation',
    ];
    for (const l of json.modelTopology.config.layers) expect(stock).toContain(l.class_name);
    const back = await loadModelFromDir(out);
    const x = tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 5);
    const a = (m.predict(x) as tf.Tensor).dataSync();
    const b = (back.predict(x) as tf.Tensor).dataSync();
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    tf.dispose([x]);
    m.dispose();
    back.dispose();
  });
});
