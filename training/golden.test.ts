import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { parseGoldenEvaluation } from '../model/golden/index.ts';
import { defaultSpecFor } from '../model/preprocessing.ts';
import { ProjectError } from '../platform/index.ts';
import { tempDir } from '../testing/lock/fixtures.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { type GoldenConfig, parseTrainingConfig } from './config.ts';
import { loadDataSource } from './data/index.ts';
import { goldenEvaluation, loadGoldenSet, predictGolden } from './golden.ts';

let dir: string;
let golden: GoldenConfig;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir('golden-');
  const settings = { seed: 5, perClass: 3, size: 8, channels: 1 as const };
  const probe = await loadDataSource({ kind: 'generated', path: join(dir, 'probe'), ...settings });
  golden = {
    name: 'g',
    digest: probe.digest.root,
    kind: 'generated',
    path: join(dir, 'golden'),
    ...settings,
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the golden set', () => {
  it('is loaded in id order with the pinned digest, the same every time', async () => {
    const a = await loadGoldenSet(golden);
    const b = await loadGoldenSet({ ...golden, path: join(dir, 'again') });
    expect([a.name, a.digest, a.items.length, a.labels]).toEqual([
      'g',
      golden.digest,
      12,
      ['circle', 'cross', 'square', 'triangle'],
    ]);
    expect(a.items.map((it) => it.id)).toEqual([...a.items.map((it) => it.id)].sort());
    expect(b.orderDigest).toBe(a.orderDigest);
  });

  it('another digest stops the run, naming both and what to do', async () => {
    const err = (await loadGoldenSet(
      { ...golden, digest: `sha256:${'f'.repeat(64)}`, seed: 6 },
      { what: 'training/configs/x.json' },
    ).catch((e: unknown) => e)) as ProjectError;
    expect(err).toBeInstanceOf(ProjectError);
    expect(err.code).toBe('DIGEST_MISMATCH');
    expect(err.message.split('\n')[0]).toMatch(
      new RegExp(
        `^golden set "g": the generated data in ${join(dir, 'golden')} has digest sha256:[0-9a-f]{64}, but golden.digest in training/configs/x.json pins sha256:f{64}$`,
      ),
    );
    expect(err.hint).toContain(
      'the generator settings (golden.seed, perClass, size, channels) or the generator changed',
    );
  });

  it('maps a model’s classes to the golden labels by name (−1 for one the golden set lacks) into golden.json', async () => {
    const set = await loadGoldenSet(golden);
    const spec = defaultSpecFor({ width: 4, height: 4, channels: 1 });
    // A model whose output is constant: class 2 of its own labels wins for every input.
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [4, 4, 1] }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const [kernel] = model.getWeights() as [tf.Tensor];
    model.setWeights([tf.zerosLike(kernel), tf.tensor1d([0, 0, 5])]);
    expect(predictGolden(model, spec, ['circle', 'hexagon', 'triangle'], set)).toEqual(new Array(12).fill(3));
    const lacking = predictGolden(model, spec, ['circle', 'cross', 'hexagon'], set);
    expect(lacking).toEqual(new Array(12).fill(-1));
    const g = goldenEvaluation(set, lacking, { env: 'prod', note: 'nothing pinned' });
    expect(parseGoldenEvaluation(JSON.parse(JSON.stringify(g)), 'golden.json')).toEqual({
      goldenVersion: 1,
      name: 'g',
      digest: golden.digest,
      orderDigest: set.orderDigest,
      labels: set.labels,
      truth: set.items.map((it) => it.label),
      predicted: lacking,
      championEnv: 'prod',
      championNote: 'nothing pinned',
    });
    model.dispose();
  });

  it('is a section of the training config, checked like the rest', () => {
    const base = tinyTrainingConfig({ name: 'x', dataPath: 'd' });
    expect(parseTrainingConfig({ ...base, golden }).golden).toEqual(golden);
    expect(() =>
      parseTrainingConfig({ ...base, golden: { ...golden, digest: 'abc', colour: 'red' } }, 'c.json'),
    ).toThrow(
      /c\.json is invalid:\n {2}- \/golden: unknown field "colour"\n {2}- \/golden\/digest: must match pattern/,
    );
  });
});
