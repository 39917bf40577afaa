/**
 * The CIFAR-10 benchmark (`npm run bench:cifar10`; a benchmark, never a
 * test): test accuracy against wall-clock time, per epoch, of the recipe in
 * training/configs/cifar10.json (docs/cifar10.md) on the real archive of its
 * data pointer, beside the same recipe in TensorFlow/Keras on the same
 * machine:
 *
 *   - tfjs: `train()` itself (training/train.ts), as `npm run train` runs it,
 *     on the default backend (native TensorFlow here), writing its artifact;
 *     after every epoch the benchmark scores the model on the 10,000 test
 *     images (not timed);
 *   - Keras: bench/training/cifar10_peer.py, from the same initial weights
 *     (whitening included), on the same split (the same JPEG files, decoded
 *     there with Pillow), with the same epochs, batch, schedule, optimizer,
 *     label smoothing and augmentation; scored the same way.
 *
 * Time is wall-clock from the first training step (data loading and decoding
 * are reported apart), including the per-epoch validation, excluding the
 * benchmark's own test scoring. It prints a table of both sides with the
 * time to 85 % and to 90 % test accuracy and their ratios, and writes
 * bench/results/<results>.json and .md. Run it on a quiet machine (nothing
 * else timed or heavy at the same time); compare rows of one run.
 *
 * Flags: --config training/configs/cifar10.json  --sides tfjs,keras
 *   --epochs N (override)  --max-per-class N (train images per class, a quick look)
 *   --data <folder> (where the pointer's archive is extracted; default the config's)
 *   --python <venv python> (default bench/peer/setup.sh's venv)  --results cifar10
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveModelToDir } from '../../model/model-io.ts';
import { isMain, parseCommand, runMain, usageError, usageOf } from '../../platform/cli.ts';
import { ProjectError } from '../../platform/errors.ts';
import { stableStringify } from '../../platform/json.ts';
import { loadTrainingConfig, type TrainingConfig } from '../../training/config.ts';
import { argmaxRows, predictProbabilities } from '../../training/evaluate.ts';
import type { ArrayData } from '../../training/loop.ts';
import { learningRateScales } from '../../training/models.ts';
import { ONE_CYCLE_DEFAULT } from '../../training/schedule.ts';
import { type RunContext, train } from '../../training/train.ts';
import { PEER_PYTHON } from '../peer/venv.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DEFAULT_PYTHON = PEER_PYTHON;
/** What the bench accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run bench:cifar10 --',
  summary: `Test accuracy against wall-clock time, per epoch, of the recipe of a training
config (docs/cifar10.md) on the real archive of its data pointer: train() as
\`npm run train\` runs it (tfjs), beside the same recipe in TensorFlow/Keras
from the same initial weights on the same split. Prints a table of both sides
with the time to 85 % and 90 % test accuracy and their ratios, and writes
bench/results/<results>.json and .md. A benchmark, never a test: run it on a
quiet machine.`,
  options: {
    config: {
      type: 'string',
      value: '<file>',
      default: 'training/configs/cifar10.json',
      help: 'the training config (relative to the repository)',
    },
    sides: {
      type: 'string',
      value: '<list>',
      default: 'tfjs,keras',
      help: "tfjs, or tfjs,keras (the Keras side starts from tfjs' initial model)",
    },
    epochs: { type: 'string', value: '<n>', help: "epochs (default: the config's)" },
    'max-per-class': {
      type: 'string',
      value: '<n>',
      help: "train images per class, for a quick look (default: the config's)",
    },
    data: {
      type: 'string',
      value: '<folder>',
      help: "where the pointer's archive is extracted (default: the config's)",
    },
    python: {
      type: 'string',
      value: '<venv>/bin/python',
      default: DEFAULT_PYTHON,
      help: "the Keras side's Python: bench/peer/setup.sh's venv",
    },
    results: {
      type: 'string',
      value: '<name>',
      default: 'cifar10',
      help: 'the results file stem: bench/results/<name>.json and .md',
    },
  },
  notes: `It needs the archive of data/cifar10.json (a mirror or local copy: docs/data.md)
and, for keras, the Python peer: bash bench/peer/setup.sh keras`,
} as const;

/** The accuracies the report measures the time to. */
export const TARGETS = [0.85, 0.9] as const;

export interface EpochPoint {
  epoch: number;
  /** Wall-clock seconds from the first training step to the end of this epoch (its validation included). */
  elapsedSeconds: number;
  /**
   * CPU seconds of the process over the same span (all its threads): on a shared
   * machine, what an idle one would take is about this divided by its cores.
   */
  cpuSeconds?: number;
  trainSeconds: number;
  loss: number;
  valAccuracy: number;
  testAccuracy: number;
}

export interface SideReport {
  side: 'tfjs' | 'keras';
  detail: string;
  /** Seconds spent reading and decoding the images (and, for tfjs, fetching/checking the archive). */
  dataSeconds: number;
  epochs: EpochPoint[];
  /** Test accuracy of the final model with flip test-time augmentation (mean of the image and its mirror): an eval-time figure, not what the server does. */
  testAccuracyFlipTTA: number | null;
  /** tfjs: what train() recorded as the model's test accuracy (the best epoch's weights, as served). */
  finalTestAccuracy: number;
  /** tfjs: the whole `train()` wall time, data and artifact export included. */
  totalSeconds?: number;
  timeTo: Record<string, number | null>;
}

/** Seconds until test accuracy first reached each target (null: not reached). */
export function timeToTargets(epochs: readonly EpochPoint[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const t of TARGETS) {
    out[String(t)] = epochs.find((e) => e.testAccuracy >= t)?.elapsedSeconds ?? null;
  }
  return out;
}

function accuracyOf(model: tf.LayersModel, data: ArrayData, flip: boolean): number {
  const shape = { height: 32, width: 32, channels: 3 };
  let probs = predictProbabilities(model, data.x, data.count, shape, 500);
  if (flip) {
    const flipped = tf.tidy(() =>
      tf.reverse(tf.tensor4d(data.x, [data.count, 32, 32, 3]), 2).dataSync(),
    ) as Float32Array;
    const other = predictProbabilities(model, flipped, data.count, shape, 500);
    probs = probs.map((p, i) => (p + (other[i] as number)) / 2);
  }
  const predicted = argmaxRows(probs, probs.length / data.count);
  let right = 0;
  for (let i = 0; i < data.count; i++) if (predicted[i] === data.labels[i]) right++;
  return right / data.count;
}

/** What the Keras peer needs: the split as file lists, the initial model, the recipe. */
async function writePeerWork(dir: string, config: TrainingConfig, run: RunContext): Promise<void> {
  await mkdir(dir, { recursive: true });
  const root = run.dataset.root;
  for (const part of ['train', 'validation', 'test'] as const) {
    await writeFile(
      join(dir, `${part}.tsv`),
      run.split[part].map((it) => `${join(root, it.id)}\t${it.label}\n`).join(''),
    );
  }
  await saveModelToDir(run.model, join(dir, 'model'));
  const o = config.training.optimizer;
  if (o?.name !== 'sgd')
    throw new ProjectError(
      'USAGE',
      'the Keras peer runs the SGD recipe only (training.optimizer.name "sgd")',
    );
  // Scales by "<layer>/<weight>", the names the Keras model rebuilt from model.json has.
  const byVariable = learningRateScales(run.model, { batchNormBiasScale: o.batchNormBiasScale });
  const scales: Record<string, number> = {};
  for (const layer of run.model.layers) {
    for (const w of layer.trainableWeights) {
      const s = byVariable[w.name];
      if (s !== undefined) scales[`${layer.name}/${w.originalName.split('/').pop()}`] = s;
    }
  }
  await writeFile(
    join(dir, 'recipe.json'),
    stableStringify({
      epochs: config.training.epochs,
      batchSize: config.training.batchSize,
      learningRate: config.training.learningRate,
      oneCycle: config.training.oneCycle ?? ONE_CYCLE_DEFAULT,
      optimizer: o,
      labelSmoothing: config.training.labelSmoothing ?? 0,
      ...(config.training.lookahead ? { lookahead: config.training.lookahead } : {}),
      augmentation: config.augmentation,
      seed: config.seed,
      classes: run.dataset.labels.length,
      scales,
    }),
  );
}

async function runTfjs(config: TrainingConfig, o: { dataPath?: string; peerDir?: string; tmp: string }) {
  let test: ArrayData | undefined;
  let started = 0;
  let excluded = 0;
  let cpuStarted = 0;
  let cpuExcluded = 0;
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  let tta: number | null = null;
  const points: EpochPoint[] = [];
  const t0 = performance.now();
  let dataSeconds = 0;
  const result = await train(config, {
    outDir: join(o.tmp, 'artifact'),
    ...(o.dataPath ? { dataPath: o.dataPath } : {}),
    progress: false,
    log: (line) => console.log(`  tfjs  ${line}`),
    beforeLoop: async (run) => {
      dataSeconds = (performance.now() - t0) / 1000;
      test = run.test;
      if (o.peerDir) await writePeerWork(o.peerDir, config, run);
      started = performance.now();
      cpuStarted = cpuNow();
    },
    afterEpoch: (model, epoch, m) => {
      const t = performance.now();
      const c = cpuNow();
      const elapsedSeconds = (t - started - excluded) / 1000;
      const cpuSeconds = c - cpuStarted - cpuExcluded;
      const testAccuracy = accuracyOf(model, test as ArrayData, false);
      if (epoch === config.training.epochs) tta = accuracyOf(model, test as ArrayData, true);
      points.push({
        epoch,
        elapsedSeconds,
        cpuSeconds,
        trainSeconds: NaN,
        loss: m.loss,
        valAccuracy: m.val_accuracy,
        testAccuracy,
      });
      console.log(
        `  tfjs  epoch ${String(epoch).padStart(2)}: test ${(testAccuracy * 100).toFixed(2)} %, ${elapsedSeconds.toFixed(0)} s` +
          (tta !== null ? `, flip-TTA ${((tta as number) * 100).toFixed(2)} %` : ''),
      );
      excluded += performance.now() - t;
      cpuExcluded += cpuNow() - c;
    },
  });
  const totalSeconds = (performance.now() - t0) / 1000 - excluded / 1000;
  // Per-epoch training time: what the loop measured overall, spread by the epochs' share.
  const spe = result.samplesPerSecond;
  for (const p of points) p.trainSeconds = spe > 0 ? result.split.counts.train / spe : NaN;
  const report: SideReport = {
    side: 'tfjs',
    detail: `${result.backend.package}${result.backend.tensorflow ? `, TensorFlow ${result.backend.tensorflow.version}` : ''} (backend ${result.backend.id}), train()`,
    dataSeconds,
    epochs: points,
    testAccuracyFlipTTA: tta,
    finalTestAccuracy: result.metrics.accuracy,
    totalSeconds,
    timeTo: timeToTargets(points),
  };
  return { report, result };
}

async function runKeras(python: string, work: string): Promise<SideReport> {
  const lines: Record<string, unknown>[] = [];
  let err = '';
  await new Promise<void>((res, rej) => {
    const child = spawn(python, [join(ROOT, 'bench', 'training', 'cifar10_peer.py'), '--work', work], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
    });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line.startsWith('{')) continue;
        const r = JSON.parse(line) as Record<string, unknown>;
        lines.push(r);
        if (typeof r.epoch === 'number') {
          console.log(
            `  keras epoch ${String(r.epoch).padStart(2)}: test ${((r.testAccuracy as number) * 100).toFixed(2)} %, ${(r.elapsedSeconds as number).toFixed(0)} s`,
          );
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d).slice(-4000);
    });
    child.on('error', rej);
    child.on('close', (code) =>
      code === 0
        ? res()
        : rej(new ProjectError('UNAVAILABLE', `${python} cifar10_peer.py exited ${code}:\n${err}`)),
    );
  });
  const epochs = lines.filter((r) => typeof r.epoch === 'number') as unknown as EpochPoint[];
  const info = lines.find((r) => typeof r.tensorflow === 'string') as {
    tensorflow: string;
    keras: string;
    python: string;
    decodeSeconds: number;
    testAccuracyFlipTTA: number;
  };
  return {
    side: 'keras',
    detail: `TensorFlow ${info.tensorflow} / Keras ${info.keras} (tensorflow-cpu), Python ${info.python}, custom loop in one tf.function`,
    dataSeconds: info.decodeSeconds,
    epochs,
    testAccuracyFlipTTA: info.testAccuracyFlipTTA,
    finalTestAccuracy: epochs[epochs.length - 1]?.testAccuracy ?? Number.NaN,
    timeTo: timeToTargets(epochs),
  };
}

const pct = (v: number | null | undefined) =>
  v === null || v === undefined || Number.isNaN(v) ? '-' : `${(v * 100).toFixed(2)} %`;
const secs = (v: number | null | undefined) =>
  v === null || v === undefined ? 'not reached' : `${v.toFixed(0)} s (${(v / 60).toFixed(1)} min)`;
const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a && b ? `${(a / b).toFixed(2)}x` : '-';

export function markdown(r: { meta: Record<string, unknown>; recipe: string; sides: SideReport[] }): string {
  const tfjs = r.sides.find((s) => s.side === 'tfjs');
  const keras = r.sides.find((s) => s.side === 'keras');
  const out = [
    '# CIFAR-10: test accuracy against wall-clock time, tfjs (native) and Keras',
    '',
    `${r.meta.date} · ${r.meta.cpus} · ${r.meta.memoryGiB} GiB · Node ${r.meta.node} · load average at start ${r.meta.loadAverage}`,
    '',
    r.recipe,
    '',
    '| | tfjs | Keras | tfjs / Keras |',
    '| --- | ---: | ---: | ---: |',
    ...TARGETS.map(
      (t) =>
        `| time to ${t * 100} % test accuracy | ${secs(tfjs?.timeTo[String(t)])} | ${secs(keras?.timeTo[String(t)])} | ${ratio(tfjs?.timeTo[String(t)], keras?.timeTo[String(t)])} |`,
    ),
    `| test accuracy after the last epoch | ${pct(tfjs?.epochs.at(-1)?.testAccuracy)} | ${pct(keras?.epochs.at(-1)?.testAccuracy)} | |`,
    `| the same with flip test-time augmentation (eval-time figure; the server does not do it) | ${pct(tfjs?.testAccuracyFlipTTA)} | ${pct(keras?.testAccuracyFlipTTA)} | |`,
    `| training CPU time, all epochs (an idle machine's wall time is about this / its cores) | ${secs(tfjs?.epochs.at(-1)?.cpuSeconds)} | ${secs(keras?.epochs.at(-1)?.cpuSeconds)} | ${ratio(tfjs?.epochs.at(-1)?.cpuSeconds, keras?.epochs.at(-1)?.cpuSeconds)} |`,
    `| training wall time, all epochs | ${secs(tfjs?.epochs.at(-1)?.elapsedSeconds)} | ${secs(keras?.epochs.at(-1)?.elapsedSeconds)} | ${ratio(tfjs?.epochs.at(-1)?.elapsedSeconds, keras?.epochs.at(-1)?.elapsedSeconds)} |`,
    `| reading + decoding the images | ${tfjs ? `${tfjs.dataSeconds.toFixed(0)} s` : '-'} | ${keras ? `${keras.dataSeconds.toFixed(0)} s` : '-'} | |`,
    ...(tfjs?.totalSeconds
      ? [
          `| tfjs: whole \`train()\` (data, training, evaluation, artifact) | ${secs(tfjs.totalSeconds)} | | |`,
        ]
      : []),
    '',
    ...(tfjs
      ? [
          `tfjs: ${tfjs.detail}; the model it exported (best epoch by validation accuracy) scores ${pct(tfjs.finalTestAccuracy)} on the test images.`,
        ]
      : []),
    ...(keras ? [`Keras: ${keras.detail}.`] : []),
    '',
    '| epoch | tfjs elapsed | tfjs CPU | tfjs test acc | Keras elapsed | Keras CPU | Keras test acc |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const n = Math.max(tfjs?.epochs.length ?? 0, keras?.epochs.length ?? 0);
  for (let i = 0; i < n; i++) {
    const a = tfjs?.epochs[i];
    const b = keras?.epochs[i];
    out.push(
      `| ${i + 1} | ${a ? `${a.elapsedSeconds.toFixed(0)} s` : '-'} | ${secs(a?.cpuSeconds)} | ${pct(a?.testAccuracy)} | ${b ? `${b.elapsedSeconds.toFixed(0)} s` : '-'} | ${secs(b?.cpuSeconds)} | ${pct(b?.testAccuracy)} |`,
    );
  }
  out.push(
    '',
    "Elapsed: wall clock from the first training step to the end of the epoch, validation included, the benchmark's own test scoring excluded. Both sides share the machine's cores; compare rows of one run.",
    '',
  );
  return out.join('\n');
}

function describeRecipe(
  c: TrainingConfig,
  counts: { train: number; validation: number; test: number },
): string {
  const o = c.training.optimizer;
  const oc = c.training.oneCycle ?? ONE_CYCLE_DEFAULT;
  return [
    `Recipe: ${c.name}: ${c.model.builder} ${JSON.stringify(c.model.filters)}, ${c.model.activation ?? 'relu'}; `,
    `${c.training.epochs} epochs of ${counts.train} images (validation ${counts.validation}, test ${counts.test}), batch ${c.training.batchSize}; `,
    o?.name === 'sgd'
      ? `SGD${o.nesterov ? ' Nesterov' : ''} momentum ${o.momentum}, weight decay ${o.weightDecay}, batch-norm offsets x${o.batchNormBiasScale ?? 1}; `
      : 'Adam; ',
    `learning rate ${c.training.learningRate} (${c.training.schedule}${c.training.schedule === 'one-cycle' ? ` ${oc.start} -> 1 at ${oc.peakAt} -> ${oc.end}` : ''}); `,
    `label smoothing ${c.training.labelSmoothing ?? 0}; ${c.training.lookahead ? `Lookahead every ${c.training.lookahead.every} steps after ${c.training.lookahead.afterEpochs} epochs (decay ${c.training.lookahead.decay}); ` : ''}augmentation flip ${c.augmentation.flip}, translate ${c.augmentation.crop} (${c.augmentation.padding ?? 'zeros'}).`,
  ].join('');
}

async function main(argv: string[]): Promise<number> {
  const cli = parseCommand(argv, COMMAND);
  if (!cli) return 0;
  const { values } = cli;
  const sides = values.sides.split(',');
  if (sides.some((s) => s !== 'tfjs' && s !== 'keras') || !sides.includes('tfjs')) {
    throw usageError(
      `--sides: tfjs, or tfjs,keras (the Keras side starts from tfjs' initial model)`,
      usageOf(COMMAND),
    );
  }
  if (!/^[a-z0-9-]+$/.test(values.results))
    throw new ProjectError('USAGE', `--results: a file name stem, not "${values.results}"`);
  const config = await loadTrainingConfig(resolve(ROOT, values.config));
  if (values.epochs) config.training.epochs = Number(values.epochs);
  if (values['max-per-class']) config.data.maxPerClass = { train: Number(values['max-per-class']) };
  if (sides.includes('keras') && !existsSync(values.python)) {
    throw new ProjectError('NOT_FOUND', `the Python peer ${values.python} is not there`, {
      subject: values.python,
      hint: 'run `bash bench/peer/setup.sh keras` (tensorflow-cpu from PyPI), or pass --python',
    });
  }
  const meta = {
    date: new Date().toISOString(),
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node,
    loadAverage: loadavg()
      .map((l) => l.toFixed(1))
      .join(' '),
    config: values.config,
    epochs: config.training.epochs,
    ...(values['max-per-class'] ? { maxPerClass: Number(values['max-per-class']) } : {}),
  };
  const tmp = await mkdtemp(join(tmpdir(), 'bench-cifar10-'));
  const peerDir = sides.includes('keras') ? join(tmp, 'peer') : undefined;
  const reports: SideReport[] = [];
  let recipe = '';
  try {
    console.log(`tfjs: ${values.config}, ${config.training.epochs} epochs`);
    const { report, result } = await runTfjs(config, {
      tmp,
      ...(values.data ? { dataPath: resolve(values.data) } : {}),
      ...(peerDir ? { peerDir } : {}),
    });
    reports.push(report);
    recipe = describeRecipe(config, result.split.counts);
    if (peerDir) {
      console.log('keras: the same recipe, data and initial weights');
      reports.push(await runKeras(values.python, peerDir));
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const md = markdown({ meta, recipe, sides: reports });
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${values.results}.json`), stableStringify({ meta, recipe, sides: reports }));
  await writeFile(join(dir, `${values.results}.md`), md);
  console.log(`\n${md}`);
  console.log(`wrote bench/results/${values.results}.json and ${values.results}.md`);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
