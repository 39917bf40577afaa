/**
 * Training benchmark (`npm run bench:training`; not a test: timings depend
 * on the machine and its load). In one run, for each workload:
 *
 *   - pure JS (`@tensorflow/tfjs` cpu backend),
 *   - native CPU (`@tensorflow/tfjs-node` on libtensorflow from the PyPI
 *     wheel, scripts/setup.d/70-tfjs-native.sh),
 *   - the Python peer (bench/training/peer.py: TensorFlow/Keras on the CPU,
 *     model.compile + model.fit, the same TensorFlow version),
 *
 * train the same architecture from the same initial weights on the same
 * preprocessed data in the same batch order, with Adam at the config's
 * learning rate, evaluating on the validation split after every epoch. It
 * prints training samples/s and time-to-accuracy (wall time of training +
 * evaluation until validation accuracy first reaches the target) with the
 * ratios, and writes bench/results/training.json and training.md.
 *
 * Workloads: `demo` (training/configs/demo.json: deep-cnn 16/32/64 on generated
 * 32x32 colour shapes), `demo-pure-js` (training/configs/demo-pure-js.json:
 * the small CNN pure JS can train) and `cifar10` (the VGG-style deep-cnn
 * 32/64/128 that training/configs/cifar10.json had before its airbench
 * recipe, with Adam, on generated 32x32 colour shapes). The CIFAR-10 recipe
 * on the real data, beside Keras: `npm run bench:cifar10` (./cifar10.ts). Pure JS stops after
 * --js-budget seconds per workload; its time-to-accuracy then reads "not
 * reached".
 *
 * Flags: --workloads demo,cifar10  --epochs N (most per side, default 15)
 * --js-budget S (default 240)  --results NAME (default training: bench/results/<NAME>.md)
 * --python <venv python> (default the peer venv
 * of bench/peer/setup.sh)  --demo (also train the demo config end to end with
 * train() on the default backend and print its accuracy and wall time).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type BackendChoice, selectBackend, TRAINING_ORDER } from '../../model/backend.ts';
import { saveModelToDir } from '../../model/model-io.ts';
import { defaultSpecFor } from '../../model/preprocessing.ts';
import { isMain, parseFlags, runMain } from '../../platform/cli.ts';
import { ProjectError } from '../../platform/errors.ts';
import { stableStringify } from '../../platform/json.ts';
import { adam } from '../../training/adam.ts';
import { loadTrainingConfig, type TrainingConfig } from '../../training/config.ts';
import { mulberry32 } from '../../training/data/rng.ts';
import { loadDataSource } from '../../training/data/source.ts';
import { splitDataset } from '../../training/data/split.ts';
import type { ArrayData } from '../../training/loop.ts';
import { buildModel, reseedDropout } from '../../training/models.ts';
import { toArrayData, train } from '../../training/train.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DEFAULT_PYTHON = join(
  process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'),
  'gitops-ml',
  'peer-tf2.21.0',
  'bin',
  'python',
);
const USAGE = `usage: npm run bench:training -- [--workloads demo,cifar10] [--epochs 15] [--js-budget 240] [--results training] [--python <venv>/bin/python] [--demo]
  set up the Python peer first: bash bench/peer/setup.sh`;

interface Workload {
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

async function workloads(names: string[]): Promise<Workload[]> {
  const out: Workload[] = [];
  for (const name of names) {
    const w = WORKLOADS[name];
    if (!w) {
      throw new ProjectError(
        'USAGE',
        `--workloads: unknown workload "${name}" (${Object.keys(WORKLOADS).join(', ')})\n\n${USAGE}`,
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

export interface EpochRecord {
  epoch: number;
  trainSeconds: number;
  elapsedSeconds: number;
  valAccuracy: number;
}

export interface SideResult {
  side: string;
  detail: string;
  /** Training samples per second over the epochs after the first (the first includes set-up). */
  samplesPerSecond: number;
  epochs: EpochRecord[];
  /** Seconds until validation accuracy first reached the target, or null. */
  timeToTarget: number | null;
  epochsToTarget: number | null;
  stoppedBy: 'target' | 'epochs' | 'budget';
}

interface Prepared {
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

async function prepare(w: Workload, epochs: number, tmp: string): Promise<Prepared> {
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

function summarize(
  side: string,
  detail: string,
  epochs: EpochRecord[],
  samples: number[],
  target: number,
  stoppedBy: SideResult['stoppedBy'],
): SideResult {
  const steady = epochs.length > 1 ? epochs.slice(1) : epochs;
  const steadySamples = epochs.length > 1 ? samples.slice(1) : samples;
  const seconds = steady.reduce((a, e) => a + e.trainSeconds, 0);
  const reached = epochs.find((e) => e.valAccuracy >= target);
  return {
    side,
    detail,
    samplesPerSecond: seconds > 0 ? steadySamples.reduce((a, b) => a + b, 0) / seconds : 0,
    epochs,
    timeToTarget: reached ? reached.elapsedSeconds : null,
    epochsToTarget: reached ? reached.epoch : null,
    stoppedBy: reached ? 'target' : stoppedBy,
  };
}

/** Samples/s of one training step on `n` images (after a warm-up step), on a throw-away model. */
async function probeStep(w: Workload, p: Prepared, n: number): Promise<number> {
  const c = w.config;
  const model = buildModel({ model: c.model, input: c.input, numClasses: p.classes, seed: c.seed });
  model.compile({ optimizer: adam(c.training.learningRate), loss: 'categoricalCrossentropy' });
  const size = p.shape[0] * p.shape[1] * p.shape[2];
  const xs = tf.tensor4d(p.train.x.subarray(0, n * size), [n, ...p.shape]);
  const ys = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: n }, (_, i) => p.train.labels[i] as number),
      'int32',
    ),
    p.classes,
  );
  try {
    await model.trainOnBatch(xs, ys);
    const t = performance.now();
    await model.trainOnBatch(xs, ys);
    return (n * 1000) / (performance.now() - t);
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}

/** Train with tfjs on the active backend: trainOnBatch over the shared batch order, as training/loop.ts does. */
async function trainTfjs(
  w: Workload,
  p: Prepared,
  choice: BackendChoice,
  epochs: number,
  budgetSeconds: number,
): Promise<SideResult> {
  const c = w.config;
  const size = p.shape[0] * p.shape[1] * p.shape[2];
  const bs = c.training.batchSize;
  const detail = choice.tensorflow
    ? `${choice.package}, TensorFlow ${choice.tensorflow.version}`
    : choice.package;
  const side = choice.id === 'cpu' ? 'pure JS' : 'native CPU';
  if (Number.isFinite(budgetSeconds)) {
    // One step can outlast the whole budget (pure JS on deep-cnn: seconds per image). A probe
    // step of a few images on a throw-away copy says whether one batch fits; if not, its rate is
    // the figure reported.
    const probe = await probeStep(w, p, 4);
    if (bs / probe > budgetSeconds) {
      console.log(
        `  ${choice.id.padEnd(10)} probe: ${probe.toFixed(2)} samples/s; a batch of ${bs} would take ${(bs / probe).toFixed(0)} s, over the ${budgetSeconds} s budget`,
      );
      return {
        side,
        detail: `${detail} (probe: one step of 4 images; one batch of ${bs} exceeds the ${budgetSeconds} s budget)`,
        samplesPerSecond: probe,
        epochs: [],
        timeToTarget: null,
        epochsToTarget: null,
        stoppedBy: 'budget',
      };
    }
  }
  const model = buildModel({ model: c.model, input: c.input, numClasses: p.classes, seed: c.seed });
  model.setWeights(p.initial.map((v, i) => tf.tensor(v, model.getWeights()[i]?.shape)));
  model.compile({ optimizer: adam(c.training.learningRate), loss: 'categoricalCrossentropy' });
  const records: EpochRecord[] = [];
  const samples: number[] = [];
  let elapsed = 0;
  let step = 0;
  let stoppedBy: SideResult['stoppedBy'] = 'epochs';
  try {
    for (let e = 0; e < epochs; e++) {
      const order = p.order[e] as Int32Array;
      const t0 = performance.now();
      let done = 0;
      for (let b = 0; b < order.length; b += bs) {
        const idx = order.subarray(b, Math.min(order.length, b + bs));
        const x = new Float32Array(idx.length * size);
        const y = new Float32Array(idx.length * p.classes);
        idx.forEach((k, i) => {
          x.set(p.train.x.subarray(k * size, (k + 1) * size), i * size);
          y[i * p.classes + (p.train.labels[k] as number)] = 1;
        });
        const xs = tf.tensor4d(x, [idx.length, ...p.shape]);
        const ys = tf.tensor2d(y, [idx.length, p.classes]);
        reseedDropout(model, c.seed, step++);
        await model.trainOnBatch(xs, ys);
        xs.dispose();
        ys.dispose();
        done += idx.length;
        if ((performance.now() - t0) / 1000 + elapsed > budgetSeconds) {
          stoppedBy = 'budget';
          break;
        }
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      const acc = tf.tidy(() => {
        const probs = model.predict(tf.tensor4d(p.validation.x, [p.validation.count, ...p.shape]), {
          batchSize: 256,
        }) as tf.Tensor;
        const pred = probs.argMax(1).dataSync();
        let ok = 0;
        pred.forEach((v, i) => {
          if (v === p.validation.labels[i]) ok++;
        });
        return ok / p.validation.count;
      });
      elapsed += (performance.now() - t0) / 1000;
      records.push({ epoch: e + 1, trainSeconds, elapsedSeconds: elapsed, valAccuracy: acc });
      samples.push(done);
      console.log(
        `  ${choice.id.padEnd(10)} epoch ${String(e + 1).padStart(2)}: ${(done / trainSeconds).toFixed(1)} samples/s, val acc ${acc.toFixed(3)}, ${elapsed.toFixed(1)} s`,
      );
      if (acc >= w.target || stoppedBy === 'budget') break;
    }
  } finally {
    model.dispose();
  }
  return summarize(side, detail, records, samples, w.target, stoppedBy);
}

async function trainPython(w: Workload, p: Prepared, python: string, epochs: number): Promise<SideResult> {
  const args = [
    join(ROOT, 'bench', 'training', 'peer.py'),
    '--model-dir',
    p.modelDir,
    '--data',
    p.dataDir,
    '--epochs',
    String(epochs),
    '--batch-size',
    String(w.config.training.batchSize),
    '--lr',
    String(w.config.training.learningRate),
    '--target',
    String(w.target),
  ];
  const lines: string[] = [];
  let err = '';
  await new Promise<void>((res, rej) => {
    const child = spawn(python, args, { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line.startsWith('{')) {
          lines.push(line);
          const r = JSON.parse(line) as Partial<EpochRecord>;
          if (r.epoch) {
            console.log(
              `  python     epoch ${String(r.epoch).padStart(2)}: ${(p.train.count / (r.trainSeconds ?? 1)).toFixed(1)} samples/s, val acc ${r.valAccuracy?.toFixed(3)}, ${r.elapsedSeconds?.toFixed(1)} s`,
            );
          }
        }
        i = buf.indexOf('\n');
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d).slice(-4000);
    });
    child.on('error', rej);
    child.on('close', (code) =>
      code === 0 ? res() : rej(new ProjectError('UNAVAILABLE', `${python} peer.py exited ${code}:\n${err}`)),
    );
  });
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const epochsRun = parsed.filter((r) => typeof r.epoch === 'number') as unknown as EpochRecord[];
  const info = parsed.find((r) => typeof r.tensorflow === 'string') as {
    tensorflow: string;
    keras: string;
    python: string;
  };
  return summarize(
    'Python peer',
    `TensorFlow ${info.tensorflow} / Keras ${info.keras} (tensorflow-cpu), Python ${info.python}, model.fit`,
    epochsRun,
    epochsRun.map(() => p.train.count),
    w.target,
    'epochs',
  );
}

const ratio = (a: number | null, b: number | null) => (a && b ? `${(a / b).toPrecision(3)}x` : '-');

export function markdown(r: {
  meta: Record<string, unknown>;
  workloads: { workload: Workload; sides: SideResult[] }[];
}): string {
  const out = [
    '# Training benchmark: pure JS, native CPU, Python (TensorFlow/Keras)',
    '',
    `${r.meta.date} · ${r.meta.cpus} · ${r.meta.memoryGiB} GiB · Node ${r.meta.node} · same architecture, initial weights, data and batch order on every side; Adam; validation after every epoch`,
    '',
  ];
  for (const { workload: w, sides } of r.workloads) {
    const js = sides.find((s) => s.side === 'pure JS');
    const nat = sides.find((s) => s.side === 'native CPU');
    const py = sides.find((s) => s.side === 'Python peer');
    out.push(
      `## ${w.name}: ${w.description}`,
      '',
      `batch ${w.config.training.batchSize}, learning rate ${w.config.training.learningRate}, target: validation accuracy >= ${w.target}`,
      '',
      '| side | what | train samples/s | epochs to target | time to target (s) | samples/s vs pure JS | samples/s vs Python | Python time to target / this |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const s of sides) {
      out.push(
        `| ${s.side} | ${s.detail} | ${s.samplesPerSecond < 10 ? s.samplesPerSecond.toPrecision(2) : s.samplesPerSecond.toFixed(1)} | ${s.epochsToTarget ?? `not reached (${s.stoppedBy}, ${s.epochs.length} epochs)`} | ${s.timeToTarget?.toFixed(1) ?? '-'} | ${ratio(s.samplesPerSecond, js?.samplesPerSecond ?? null)} | ${ratio(s.samplesPerSecond, py?.samplesPerSecond ?? null)} | ${ratio(py?.timeToTarget ?? null, s.timeToTarget)} |`,
      );
    }
    out.push(
      '',
      `Targets: native >= 20x pure JS (here ${ratio(nat?.samplesPerSecond ?? null, js?.samplesPerSecond ?? null)}), native >= 0.5x the Python peer (here ${ratio(nat?.samplesPerSecond ?? null, py?.samplesPerSecond ?? null)} in samples/s, ${ratio(py?.timeToTarget ?? null, nat?.timeToTarget ?? null)} in time to target).`,
      '',
    );
  }
  out.push(
    "samples/s counts the epochs after the first (the first includes kernel set-up and, for Keras, tracing). Time to target is training plus evaluation wall time from the first batch. Pure JS stops after its time budget. All sides share the machine's cores; run on a quiet machine and compare rows of one run.",
    '',
  );
  return out.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      workloads: { type: 'string', default: 'demo,cifar10' },
      epochs: { type: 'string', default: '15' },
      'js-budget': { type: 'string', default: '240' },
      python: { type: 'string', default: DEFAULT_PYTHON },
      results: { type: 'string', default: 'training' },
      demo: { type: 'boolean', default: false },
    },
    USAGE,
  );
  const epochs = Number(values.epochs);
  const budget = Number(values['js-budget']);
  if (!(epochs >= 1) || !(budget > 0))
    throw new ProjectError('USAGE', `--epochs and --js-budget must be positive\n\n${USAGE}`);
  if (!existsSync(values.python)) {
    throw new ProjectError('NOT_FOUND', `the Python peer ${values.python} is not there`, {
      subject: values.python,
      hint: 'run `bash bench/peer/setup.sh` (tensorflow-cpu from PyPI), or pass --python',
    });
  }
  const native = await selectBackend(TRAINING_ORDER, 'tensorflow').catch((e: Error) => {
    throw new ProjectError('UNAVAILABLE', `the native backend does not load: ${e.message}`, {
      hint: 'run `bash scripts/setup.d/70-tfjs-native.sh`',
      cause: e,
    });
  });
  const tmp = await mkdtemp(join(tmpdir(), 'bench-training-'));
  const results: { workload: Workload; sides: SideResult[] }[] = [];
  try {
    for (const w of await workloads(values.workloads.split(','))) {
      console.log(`\n${w.name}: ${w.description}`);
      const p = await prepare(w, epochs, tmp);
      console.log(`  ${p.train.count} training, ${p.validation.count} validation images`);
      const sides: SideResult[] = [];
      const js = await selectBackend(TRAINING_ORDER, 'cpu');
      sides.push(await trainTfjs(w, p, js, epochs, budget));
      await selectBackend(TRAINING_ORDER, 'tensorflow');
      sides.push(await trainTfjs(w, p, native, epochs, Number.POSITIVE_INFINITY));
      sides.push(await trainPython(w, p, values.python, epochs));
      results.push({ workload: w, sides });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const meta = {
    date: new Date().toISOString(),
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node,
  };
  const report = { meta, workloads: results };
  const md = markdown(report);
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  if (!/^[a-z0-9-]+$/.test(values.results))
    throw new ProjectError('USAGE', `--results: a file name stem, not "${values.results}"`);
  await writeFile(
    join(dir, `${values.results}.json`),
    stableStringify({
      meta,
      workloads: results.map((r) => ({
        ...r,
        workload: { ...r.workload, config: undefined, model: r.workload.config.model },
      })),
    }),
  );
  await writeFile(join(dir, `${values.results}.md`), md);
  console.log(`\n${md}`);
  console.log(`wrote bench/results/${values.results}.json and ${values.results}.md`);

  if (values.demo) {
    const config = await loadTrainingConfig(join(ROOT, 'training', 'configs', 'demo.json'));
    const out = await mkdtemp(join(tmpdir(), 'bench-training-demo-'));
    try {
      const started = performance.now();
      const result = await train(config, {
        outDir: join(out, 'artifact'),
        dataPath: join(out, 'data'),
        progress: false,
      });
      console.log(
        `\ndemo (training/configs/demo.json, train() end to end): backend ${result.backend.id}, test accuracy ${(result.metrics.accuracy * 100).toFixed(1)}%, ` +
          `${result.epochsRun} epochs (best ${result.bestEpoch}), ${result.samplesPerSecond.toFixed(1)} train samples/s, wall ${((performance.now() - started) / 1000).toFixed(1)} s (data generation included)`,
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
