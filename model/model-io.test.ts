import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../training/models.ts';
import { loadModelFromDir, saveModelToDir } from './model-io.ts';

describe('model builders', () => {
  it('builds small-cnn for 16x16x1 and deep-cnn (batch norm, dropout) for 32x32x3', () => {
    const small = buildModel({
      model: { builder: 'small-cnn' },
      input: { width: 16, height: 16, channels: 1 },
      numClasses: 4,
      seed: 1,
    });
    expect(small.inputs[0]!.shape).toEqual([null, 16, 16, 1]);
    expect(small.outputs[0]!.shape).toEqual([null, 4]);
    expect(small.layers.filter((l) => l.getClassName() === 'Conv2D')).toHaveLength(2);
    const deep = buildModel({
      model: { builder: 'deep-cnn', filters: [8, 16] },
      input: { width: 32, height: 32, channels: 3 },
      numClasses: 10,
      seed: 1,
    });
    expect(deep.outputs[0]!.shape).toEqual([null, 10]);
    const kinds = new Set(deep.layers.map((l) => l.getClassName()));
    expect(kinds).toContain('BatchNormalization');
    expect(kinds).toContain('Dropout');
    small.dispose();
    deep.dispose();
  });

  it('builds the same initial weights for the same seed, different ones for another', () => {
    const weights = (seed: number) => {
      const m = buildModel({
        model: { builder: 'small-cnn' },
        input: { width: 8, height: 8, channels: 1 },
        numClasses: 2,
        seed,
      });
      const w = Array.from(m.getWeights()[0]!.dataSync());
      m.dispose();
      return w;
    };
    expect(weights(3)).toEqual(weights(3));
    expect(weights(3)).not.toEqual(weights(4));
  });

  it('refuses more pooling stages than the input allows, naming model.filters', () => {
    expect(() =>
      buildModel({
        model: { builder: 'small-cnn', filters: [2, 2, 2, 2] },
        input: { width: 8, height: 8, channels: 1 },
        numClasses: 2,
        seed: 1,
      }),
    ).toThrow(/model.filters has 4 pooling stages/);
  });
});

describe('saveModelToDir / loadModelFromDir', () => {
  it('round-trips topology and weights through model.json + weights.bin', async () => {
    const model = buildModel({
      model: { builder: 'deep-cnn', filters: [4] },
      input: { width: 8, height: 8, channels: 3 },
      numClasses: 3,
      seed: 9,
    });
    const dir = await mkdtemp(join(tmpdir(), 'model-io-'));
    await saveModelToDir(model, dir);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    const loaded = await loadModelFromDir(dir);
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 5);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    // Saving again gives the same bytes (sorted keys, same weights).
    const dir2 = await mkdtemp(join(tmpdir(), 'model-io-'));
    await saveModelToDir(loaded, dir2);
    expect(await readFile(join(dir2, 'weights.bin'))).toEqual(await readFile(join(dir, 'weights.bin')));
    model.dispose();
    loaded.dispose();
  });

  it('names the missing weights file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'model-io-'));
    const model = buildModel({
      model: { builder: 'small-cnn', filters: [2] },
      input: { width: 4, height: 4, channels: 1 },
      numClasses: 2,
      seed: 1,
    });
    await saveModelToDir(model, dir);
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, 'weights.bin'));
    await expect(loadModelFromDir(dir)).rejects.toThrow(`${join(dir, 'weights.bin')}: weights file named by`);
  });
});
