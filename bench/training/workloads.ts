/**
 * The training benchmark's workloads (bench/training/main.ts) and the data
 * every side shares: the same preprocessed images, the same initial weights
 * (a saved model), the same batch order, as arrays for tfjs and as raw files
 * for the Python peer (bench/training/peer.py reads them).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend, TRAINING_ORDER } from '../../model/backend.ts';
import { saveModelToDir } from '../../model/model-io.ts';
import { defaultSpecFor } from '../../model/preprocessing.ts';
import { ProjectError } from '../../platform/errors.ts';
import { loadTrainingConfig, type TrainingConfig } from '../../training/config.ts';
import { mulberry32 } from '../../training/data/rng.ts';
import { loadDataSource } from '../../training/data/source.ts';
import { splitDataset } from '../../training/data/split.ts';
import type { ArrayData } from '../../training/loop.ts';
import { buildModel } from '../../training/models.ts';
import { toArrayData } from '../../training/train.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export interface Workload {
  name: string;
  description: string;
  config: TrainingConfig;
  /** Generated data: images per class, size, channels. */
  perClass: number;
  target: number;
}

/** The workloads: which config's architecture, trained on how many generated images per class. */
const WORKLOADS: Record<
  string,
  {
    file: string;
    perClass?: number;
    data: string;
    /** Fields that replace the config's (the workload measures an architecture with Adam, not the config's recipe). */
    override?: { model: TrainingConfig['model']; batchSize: number; learningRate: number; label: string };
  }
> = {
  demo: { file: 'demo.json', data: 'generated {size} shapes' },
  'demo-pure-js': {
    file: 'demo-pure-js.json',
    data: 'generated {size} shapes (the model pure JS can train)',
  },
  // The CIFAR-10 recipe itself (airbench, SGD, real data) is measured by bench/training/cifar10.ts;
  // this workload keeps the VGG-style net cifar10.json had before, as a speed comparison with Adam.
  cifar10: {
    file: 'cifar10.json',
    perClass: 250,
    data: '{size} generated colour shapes (not CIFAR-10)',
    override: {
      model: { builder: 'deep-cnn', filters: [32, 64, 128], denseUnits: 128, dropout: 0.3 },
      batchSize: 64,
      learningRate: 0.001,
      label: 'the former architecture of ',
    },
  },
};

/** The names of the workloads, for the bench's help. */
export const WORKLOAD_NAMES: readonly string[] = Object.keys(WORKLOADS);

/** The named workloads, each with its config; USAGE for a name that is not one (`usage`, the bench's usageOf, ends the message). */
export async function workloads(names: string[], usage: string): Promise<Workload[]> {
  const out: Workload[] = [];
  for (const name of names) {
    const w = WORKLOADS[name];
    if (!w) {
      throw new ProjectError(
        'USAGE',
        `--workloads: unknown workload "${name}" (${Object.keys(WORKLOADS).join(', ')})\n\n${usage}`,
      );
    }
    const config = await loadTrainingConfig(join(ROOT, 'training', 'configs', w.file));
    if (w.override) {
      config.model = w.override.model;
      config.training.batchSize = w.override.batchSize;
      config.training.learningRate = w.override.learningRate;
    }
    const size = `${config.input.width}x${config.input.height}x${config.input.channels}`;
    const arch = `${config.model.builder} ${JSON.stringify(config.model.filters)}`;
    out.push({
      name,
      description: `${w.override?.label ?? ''}training/configs/${w.file}: ${arch} on ${w.data.replace('{size}', size)}`,
      config,
      perClass: w.perClass ?? config.data.perClass ?? 300,
      target: 0.95,
    });
  }
  return out;
}

/** One workload prepared for every side: the data as arrays and as files, the batch order, the initial weights. */
export interface Prepared {
  train: ArrayData;
  validation: ArrayData;
  shape: [number, number, number];
  classes: number;
  order: Int32Array[];
  initial: Float32Array[];
  modelDir: string;
  dataDir: string;
}

function permutation(n: number, seed: number): Int32Array {
  const rng = mulberry32(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [p[i], p[j]] = [p[j] as number, p[i] as number];
  }
  return p;
}

/** Generate and split the data, draw the batch order of each epoch, build the model once, and write it all for the peer. */
export async function prepare(w: Workload, epochs: number, tmp: string): Promise<Prepared> {
  const c = w.config;
  const ds = await loadDataSource({
    kind: 'generated',
    path: join(tmp, `${w.name}-images`),
    seed: c.seed,
    perClass: w.perClass,
    size: c.input.width,
    channels: c.input.channels,
  });
  const split = splitDataset(ds, { seed: c.seed, validation: 0.15, test: 0 });
  const spec = defaultSpecFor(c.input);
  const trainData = toArrayData(split.train, spec);
  const validation = toArrayData(split.validation, spec);
  const order = Array.from({ length: epochs }, (_, e) => permutation(trainData.count, c.seed * 1000 + e));
  await selectBackend(TRAINING_ORDER, 'cpu');
  const model = buildModel({ model: c.model, input: c.input, numClasses: ds.labels.length, seed: c.seed });
  const initial = model.getWeights().map((t) => Float32Array.from(t.dataSync()));
  const modelDir = join(tmp, `${w.name}-model`);
  await saveModelToDir(model, modelDir);
  model.dispose();
  const dataDir = join(tmp, `${w.name}-data`);
  await mkdir(dataDir, { recursive: true });
  const bytes = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  await writeFile(join(dataDir, 'train_x.f32'), bytes(trainData.x));
  await writeFile(join(dataDir, 'train_y.i32'), bytes(Int32Array.from(trainData.labels)));
  await writeFile(join(dataDir, 'val_x.f32'), bytes(validation.x));
  await writeFile(join(dataDir, 'val_y.i32'), bytes(Int32Array.from(validation.labels)));
  const flat = new Int32Array(order.length * trainData.count);
  order.forEach((p, e) => {
    flat.set(p, e * trainData.count);
  });
  await writeFile(join(dataDir, 'order.i32'), bytes(flat));
  const shape: [number, number, number] = [c.input.height, c.input.width, c.input.channels];
  await writeFile(
    join(dataDir, 'meta.json'),
    JSON.stringify({
      shape,
      classes: ds.labels.length,
      train: trainData.count,
      validation: validation.count,
    }),
  );
  return {
    train: trainData,
    validation,
    shape,
    classes: ds.labels.length,
    order,
    initial,
    modelDir,
    dataDir,
  };
}
