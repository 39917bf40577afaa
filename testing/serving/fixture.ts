/**
 * A tiny real model artifact for tests and the bench: a seeded tfjs CNN for
 * 16x16x1 inputs and 4 labels, written in the artifact format of
 * docs/artifact.md (model.json, weights.bin, labels.json, preprocessing.json,
 * metrics.json, reference-stats.json, training.json, digests.json), plus a
 * folder of demo PNGs. Independent of training/: serving tests build their own.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { versionIdOf } from '../../lock/index.ts';
import type { ModelPin } from '../../model/pin.ts';
import { encodePng } from '../../model/preprocessing.ts';
import { rootDigest, sha256, stableStringify } from '../../platform/index.ts';
import type { ClassificationMetrics } from '../../training/evaluate.ts';
import { renderConfusionMatrix, renderLearningCurves } from '../../training/plots.ts';

export const FIXTURE_LABELS = ['circle', 'cross', 'square', 'triangle'] as const;
export const FIXTURE_SIZE = 16;

export interface FixtureArtifact {
  /** The artifact folder. */
  dir: string;
  /** Demo images folder (SERVING_SAMPLES_DIR). */
  samplesDir: string;
  pin: ModelPin;
  /** Environment variables that make serving/main.ts serve this artifact. */
  env: Record<string, string>;
}

/** Shape of the fixture CNN: tests use the default; the bench a larger one. */
export interface FixtureShape {
  /** Input width = height (default 16). */
  size?: number;
  /** Input channels (default 1). */
  channels?: 1 | 3;
  /** Filters of each conv + max-pool block (default [4]). */
  filters?: number[];
}

/** The fixture CNN; every initializer is seeded, so weights are the same on every run. */
export function buildFixtureModel(seed = 42, shape: FixtureShape = {}): tf.LayersModel {
  const size = shape.size ?? FIXTURE_SIZE;
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  const model = tf.sequential();
  (shape.filters ?? [4]).forEach((filters, i) => {
    model.add(
      tf.layers.conv2d({
        ...(i === 0 ? { inputShape: [size, size, shape.channels ?? 1] } : {}),
        filters,
        kernelSize: 3,
        padding: i === 0 ? 'valid' : 'same',
        activation: 'relu',
        kernelInitializer: init(1 + i),
      }),
    );
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  });
  model.add(tf.layers.flatten());
  model.add(
    tf.layers.dense({ units: FIXTURE_LABELS.length, activation: 'softmax', kernelInitializer: init(100) }),
  );
  return model;
}

/** A grayscale drawing of one shape, `size` pixels square, white on black. */
export function drawShape(shape: (typeof FIXTURE_LABELS)[number], size = 64): Uint8Array {
  const data = new Uint8Array(size * size);
  const c = size / 2;
  const r = size * 0.35;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x + 0.5 - c;
      const dy = y + 0.5 - c;
      let on = false;
      if (shape === 'circle') on = dx * dx + dy * dy <= r * r;
      else if (shape === 'square') on = Math.abs(dx) <= r && Math.abs(dy) <= r;
      else if (shape === 'cross')
        on = (Math.abs(dx) <= r / 4 || Math.abs(dy) <= r / 4) && Math.abs(dx) <= r && Math.abs(dy) <= r;
      else on = dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2;
      data[y * size + x] = on ? 255 : 0;
    }
  }
  return data;
}

/** A PNG of one shape. */
export function shapePng(shape: (typeof FIXTURE_LABELS)[number], size = 64): Uint8Array<ArrayBuffer> {
  return new Uint8Array(encodePng({ width: size, height: size, channels: 1, data: drawShape(shape, size) }));
}

async function modelFiles(model: tf.LayersModel): Promise<{ modelJson: string; weights: Uint8Array }> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    }),
  );
  if (!saved?.weightData || !saved.weightSpecs) throw new Error('model.save gave no weights');
  const weightData = saved.weightData;
  const buffers = Array.isArray(weightData) ? weightData : [weightData];
  const weights = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let o = 0;
  for (const b of buffers) {
    weights.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  const modelJson = stableStringify({
    format: 'layers-model',
    generatedBy: 'testing/serving/fixture.ts',
    convertedBy: null,
    modelTopology: saved.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: saved.weightSpecs }],
  });
  return { modelJson, weights };
}

export interface FixtureOptions extends FixtureShape {
  name?: string;
  version?: string;
  seed?: number;
}

/** Write the fixture artifact under `root` (`root/artifact`, `root/samples`). */
export async function writeFixtureArtifact(
  root: string,
  opts: FixtureOptions = {},
): Promise<FixtureArtifact> {
  const name = opts.name ?? 'demo-classifier';
  const dir = join(root, 'artifact');
  const samplesDir = join(root, 'samples');
  await mkdir(dir, { recursive: true });
  await mkdir(samplesDir, { recursive: true });
  const model = buildFixtureModel(opts.seed, opts);
  const { modelJson, weights } = await modelFiles(model);
  model.dispose();
  const labels = [...FIXTURE_LABELS];
  const files: Record<string, string | Uint8Array> = {
    'model.json': modelJson,
    'weights.bin': weights,
    'labels.json': stableStringify(labels),
    'preprocessing.json': stableStringify({
      version: 1,
      width: opts.size ?? FIXTURE_SIZE,
      height: opts.size ?? FIXTURE_SIZE,
      channels: opts.channels ?? 1,
      resize: 'bilinear',
      scale: 1 / 255,
      mean: new Array(opts.channels ?? 1).fill(0),
      std: new Array(opts.channels ?? 1).fill(1),
    }),
    'metrics.json': stableStringify({
      accuracy: 0.25,
      macro_f1: 0.1,
      per_class: Object.fromEntries(labels.map((l) => [l, { precision: 0.25, recall: 0.25, f1: 0.25 }])),
    }),
    'reference-stats.json': stableStringify({ version: 1, note: 'fixture: no real reference statistics' }),
    // The plots every trained artifact holds (training/plots.ts), drawn from made-up numbers.
    'confusion-matrix.png': renderConfusionMatrix(
      {
        split: 'test',
        samples: 16,
        accuracy: 0.25,
        macro_f1: 0.1,
        loss: 1.38,
        labels,
        per_class: Object.fromEntries(
          labels.map((l) => [l, { precision: 0.25, recall: 0.25, f1: 0.25, support: 4 }]),
        ),
        confusion_matrix: labels.map((_, i) => labels.map((__, j) => (i === j ? 1 : 1))),
      } as ClassificationMetrics,
      `${name} (fixture)`,
    ),
    'learning-curves.png': renderLearningCurves(
      [1, 2, 3].map((e) => ({
        loss: 1.4 / e,
        accuracy: 0.2 * e,
        val_loss: 1.5 / e,
        val_accuracy: 0.18 * e,
        lr: 0.001,
      })),
      2,
      `${name} (fixture)`,
    ),
    'training.json': stableStringify({ seed: opts.seed ?? 42, note: 'untrained fixture for serving tests' }),
  };
  const digests: Record<string, string> = {};
  for (const [file, content] of Object.entries(files)) {
    await writeFile(join(dir, file), content);
    digests[file] = sha256(content);
  }
  const root256 = rootDigest(digests);
  // Content-addressed, as lock names versions (versionIdOf).
  const version = opts.version ?? versionIdOf(root256);
  await writeFile(
    join(dir, 'digests.json'),
    stableStringify({ algorithm: 'sha256', files: digests, root: root256 }),
  );
  for (const shape of FIXTURE_LABELS) await writeFile(join(samplesDir, `${shape}.png`), shapePng(shape));
  const pin: ModelPin = { name, version, uri: dir, digests, sha256: root256 };
  return {
    dir,
    samplesDir,
    pin,
    env: {
      SERVING_MODEL_NAME: name,
      SERVING_MODEL_VERSION: version,
      SERVING_MODEL_URI: dir,
      SERVING_MODEL_DIGESTS: JSON.stringify(digests),
      SERVING_MODEL_SHA256: root256,
      SERVING_SAMPLES_DIR: samplesDir,
    },
  };
}
