import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PNG } from 'pngjs';
import { ARTIFACT_FILES, verifyArtifactDir } from '../model/artifact/format.ts';
import { buildLayersModel } from '../model/artifact/layers.ts';
import { artifactJson, modelParts, openArtifactDir } from '../model/artifact/read.ts';
import { nativeManifestOf } from '../model/backend.ts';
import type { ReferenceStats } from '../model/drift/index.ts';
import { ProjectError, readJsonFile } from '../platform/index.ts';
import { inCI } from '../testing/services.ts';
import { parseTrainingConfig, type TrainingConfig } from './config.ts';
import type { ClassificationMetrics } from './evaluate.ts';
import { CONFUSION_MATRIX_SIZE, LEARNING_CURVES_SIZE } from './plots.ts';
import { type TrainResult, train } from './train.ts';

/** A tiny run: 4 generated shape classes, 10 per class, 8x8 gray, 2 epochs. */
const config: TrainingConfig = parseTrainingConfig({
  name: 'tiny-classifier',
  seed: 7,
  data: {
    kind: 'generated',
    path: 'unused',
    perClass: 10,
    size: 8,
    channels: 1,
    split: { validation: 0.2, test: 0.2 },
  },
  input: { width: 8, height: 8, channels: 1 },
  model: { builder: 'small-cnn', filters: [4], denseUnits: 8, dropout: 0.1 },
  augmentation: { enabled: true, crop: 1, flip: true },
  training: {
    epochs: 2,
    batchSize: 8,
    learningRate: 0.01,
    warmupEpochs: 1,
    schedule: 'cosine',
    earlyStopping: { patience: 3, minDelta: 0 },
  },
});

let dir: string;
let first: TrainResult;
const quiet = { progress: false, log: () => {} };
const fixedNow = () => new Date('2026-01-01T00:00:00Z');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'train-test-'));
  first = await train(config, {
    ...quiet,
    outDir: join(dir, 'a'),
    dataPath: join(dir, 'data'),
    now: fixedNow,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('train()', () => {
  it('trains on the fastest backend that loads (native where set up, required in CI) and records which', async () => {
    const native = nativeManifestOf('@tensorflow/tfjs-node') !== undefined;
    if (inCI()) expect(native).toBe(true);
    expect(first.backend.id).toBe(native ? 'tensorflow' : 'cpu');
    expect(first.backend.skipped.map((s) => s.package)).toEqual(
      native ? ['@tensorflow/tfjs-node-gpu'] : ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'],
    );
    const record0 = (await readJsonFile(join(first.artifactDir, 'training.json'))) as Record<string, unknown>;
    expect(record0.backend).toEqual(first.backend);
    expect(first.epochsRun).toBe(2);
    const record = record0;
    expect(record.datasetDigest).toBe(first.datasetDigest);
    expect(record.seed).toBe(7);
    expect(record.epochsRun).toBe(2);
    expect(record.bestEpoch).toBe(first.bestEpoch);
    expect(record.createdAt).toBe('2026-01-01T00:00:00.000Z');
    expect((record.split as { counts: unknown }).counts).toEqual(first.split.counts);
  });

  it('writes every artifact file, listed with its sha256 in digests.json, and loads it back', async () => {
    const digests = (await readJsonFile(join(first.artifactDir, 'digests.json'))) as {
      files: object;
      root: string;
    };
    expect(Object.keys(digests.files).sort()).toEqual([...ARTIFACT_FILES].sort());
    expect(digests.root).toBe(first.rootDigest);
    // Read back through the one reader (every digest checked), the model built from the bytes it read.
    const artifact = await openArtifactDir(first.artifactDir);
    expect(artifact.sha256).toBe(first.rootDigest);
    const { parts, labels, spec } = modelParts(artifact);
    expect(labels).toEqual(['circle', 'cross', 'square', 'triangle']);
    expect(spec).toMatchObject({ width: 8, height: 8, channels: 1 });
    const metrics = artifactJson(artifact, 'metrics.json') as ClassificationMetrics;
    expect(metrics.accuracy).toBe(first.metrics.accuracy);
    expect(metrics.confusion_matrix.flat().reduce((a, b) => a + b, 0)).toBe(first.split.counts.test);
    const referenceStats = artifactJson(artifact, 'reference-stats.json') as ReferenceStats;
    expect(Object.keys(referenceStats.inputs.features).sort()).toEqual([
      'brightness',
      'channel_mean_0',
      'contrast',
    ]);
    expect(referenceStats.predictions.samples).toBe(first.split.counts.validation);
    // One output unit per label, the input of preprocessing.json (buildLayersModel checks both).
    (await buildLayersModel(parts)).dispose();
  });

  it('draws both plots as valid PNGs of the documented size', async () => {
    const cm = PNG.sync.read(await readFile(join(first.artifactDir, 'confusion-matrix.png')));
    expect([cm.width, cm.height]).toEqual([CONFUSION_MATRIX_SIZE.width, CONFUSION_MATRIX_SIZE.height]);
    const lc = PNG.sync.read(await readFile(join(first.artifactDir, 'learning-curves.png')));
    expect([lc.width, lc.height]).toEqual([LEARNING_CURVES_SIZE.width, LEARNING_CURVES_SIZE.height]);
  });

  it('gives exactly the same metrics and weights for the same config, data and backend', async () => {
    const again = await train(config, {
      ...quiet,
      outDir: join(dir, 'b'),
      dataPath: join(dir, 'data'),
      now: fixedNow,
    });
    expect(again.history).toEqual(first.history);
    expect(again.metrics).toEqual(first.metrics);
    expect(again.digests.files['weights.bin']).toBe(first.digests.files['weights.bin']);
    expect(again.digests.files['metrics.json']).toBe(first.digests.files['metrics.json']);
  });

  it('trains on the pure-JS backend when forced (TRAINING_BACKEND=cpu) and records it', async () => {
    const js = await train(config, {
      ...quiet,
      outDir: join(dir, 'js'),
      dataPath: join(dir, 'data'),
      now: fixedNow,
      backend: 'cpu',
    });
    expect(js.backend).toEqual({
      id: 'cpu',
      name: 'cpu',
      package: '@tensorflow/tfjs (pure JS)',
      skipped: [],
    });
    const record = (await readJsonFile(join(js.artifactDir, 'training.json'))) as { backend: unknown };
    expect(record.backend).toEqual(js.backend);
    expect(js.epochsRun).toBe(2);
  });

  it('refuses an artifact whose weights.bin changed, with DIGEST_MISMATCH naming the file', async () => {
    const copy = join(dir, 'tampered');
    const { cp } = await import('node:fs/promises');
    await cp(first.artifactDir, copy, { recursive: true });
    const weights = join(copy, 'weights.bin');
    const bytes = await readFile(weights);
    bytes[10] = bytes[10]! ^ 0xff;
    await writeFile(weights, bytes);
    const err = (await verifyArtifactDir(copy).catch((e: unknown) => e)) as ProjectError;
    expect(err).toBeInstanceOf(ProjectError);
    expect(err.code).toBe('DIGEST_MISMATCH');
    expect(err.subject).toBe(weights);
    expect(err.message).toContain(`${weights}: sha256 `);
    expect(err.message).toContain(
      `, but ${join(copy, 'digests.json')} says ${first.digests.files['weights.bin']}`,
    );
    // The reader refuses it too, naming the file.
    await expect(openArtifactDir(copy)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      subject: 'weights.bin',
    });
  });

  it('refuses to overwrite a non-empty artifact folder before doing any work', async () => {
    const err = (await train(config, {
      ...quiet,
      outDir: first.artifactDir,
      dataPath: join(dir, 'data'),
    }).catch((e: unknown) => e)) as ProjectError;
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain(`${first.artifactDir}: artifact folder already exists`);
  });
});
