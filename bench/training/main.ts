/**
 * Training benchmark (`npm run bench:training`; not a test: timings depend
 * on the machine and its load). In one run, for each workload:
 *
 *   - pure JS (`@tensorflow/tfjs` cpu backend),
 *   - native CPU (`@tensorflow/tfjs-node` on libtensorflow from the PyPI
 *     wheel, scripts/setup.d/70-tfjs-native.sh), twice: op by op (tfjs's
 *     trainOnBatch), and as the trainer steps (training/compiled-step.ts:
 *     one TensorFlow graph call a step),
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
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { selectBackend, TRAINING_ORDER } from '../../model/backend.ts';
import { isMain, parseCommand, runMain, usageError, usageOf } from '../../platform/cli.ts';
import { ProjectError } from '../../platform/errors.ts';
import { stableStringify } from '../../platform/json.ts';
import { loadTrainingConfig } from '../../training/config.ts';
import { train } from '../../training/train.ts';
import { PEER_PYTHON } from '../peer/venv.ts';
import { trainPython } from './python.ts';
import { markdown, type SideResult } from './report.ts';
import { trainTfjs } from './tfjs.ts';
import { prepare, WORKLOAD_NAMES, type Workload, workloads } from './workloads.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DEFAULT_PYTHON = PEER_PYTHON;
/** What the bench accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run bench:training --',
  summary: `For each workload, train the same architecture from the same initial weights on
the same preprocessed data in the same batch order, with Adam, in pure JS
(@tensorflow/tfjs cpu), on native TensorFlow (@tensorflow/tfjs-node) and in the
Python peer (TensorFlow/Keras, model.fit): prints training samples/s and
time-to-accuracy (training + evaluation until validation accuracy first reaches
the target) with the ratios, and writes bench/results/<results>.json and .md.
A benchmark, not a test: timings depend on the machine and its load.`,
  options: {
    workloads: {
      type: 'string',
      value: '<list>',
      default: 'demo,cifar10',
      help: `the workloads, comma-separated, of ${WORKLOAD_NAMES.join(', ')}`,
    },
    epochs: { type: 'string', value: '<n>', default: '15', help: 'most epochs per side' },
    'min-epochs': {
      type: 'string',
      value: '<n>',
      default: '3',
      help: 'fewest epochs per side, target reached or not (samples/s counts the epochs\nafter the first: a side that reaches the target in one has no steady epoch)',
    },
    'js-budget': {
      type: 'string',
      value: '<s>',
      default: '240',
      help: 'seconds pure JS may train per workload (past it, its time-to-accuracy\nreads "not reached")',
    },
    results: {
      type: 'string',
      value: '<name>',
      default: 'training',
      help: 'the results file stem: bench/results/<name>.json and .md',
    },
    python: {
      type: 'string',
      value: '<venv>/bin/python',
      default: DEFAULT_PYTHON,
      help: "the peer's Python: bench/peer/setup.sh's venv",
    },
    demo: {
      type: 'boolean',
      default: false,
      help: 'also train the demo config end to end with train() on the default backend\nand print its accuracy and wall time (npm run bench:training passes it)',
    },
  },
  notes: `Set up the Python peer first: bash bench/peer/setup.sh keras; the native backend:
bash scripts/setup.d/70-tfjs-native.sh.`,
} as const;

/** What the flags ask for, checked. */
interface BenchFlags {
  workloads: string[];
  epochs: number;
  minEpochs: number;
  budget: number;
  python: string;
  results: string;
  demo: boolean;
}

type WorkloadResult = { workload: Workload; sides: SideResult[] };

async function main(argv: string[]): Promise<number> {
  const flags = parseBenchFlags(argv);
  if (!flags) return 0;
  const native = await selectBackend(TRAINING_ORDER, 'tensorflow').catch((e: Error) => {
    throw new ProjectError('UNAVAILABLE', `the native backend does not load: ${e.message}`, {
      hint: 'run `bash scripts/setup.d/70-tfjs-native.sh`',
      cause: e,
    });
  });
  const tmp = await mkdtemp(join(tmpdir(), 'bench-training-'));
  const results: WorkloadResult[] = [];
  try {
    for (const w of await workloads(flags.workloads, usageOf(COMMAND))) {
      console.log(`\n${w.name}: ${w.description}`);
      const p = await prepare(w, flags.epochs, tmp);
      console.log(`  ${p.train.count} training, ${p.validation.count} validation images`);
      const sides: SideResult[] = [];
      const js = await selectBackend(TRAINING_ORDER, 'cpu');
      const epochs = { most: flags.epochs, fewest: flags.minEpochs };
      sides.push(await trainTfjs(w, p, js, epochs, flags.budget));
      await selectBackend(TRAINING_ORDER, 'tensorflow');
      sides.push(await trainTfjs(w, p, native, epochs, Number.POSITIVE_INFINITY, 'layers'));
      sides.push(await trainTfjs(w, p, native, epochs, Number.POSITIVE_INFINITY));
      sides.push(await trainPython(w, p, flags.python, epochs));
      results.push({ workload: w, sides });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await writeResults(results, flags.results);
  if (flags.demo) await trainDemo();
  return 0;
}

/** The flags, checked: positive numbers, the Python peer there (NOT_FOUND: set it up); undefined after --help. */
function parseBenchFlags(argv: string[]): BenchFlags | undefined {
  const cli = parseCommand(argv, COMMAND);
  if (!cli) return undefined;
  const { values } = cli;
  const epochs = Number(values.epochs);
  const minEpochs = Math.min(epochs, Number(values['min-epochs']));
  const budget = Number(values['js-budget']);
  if (!(epochs >= 1) || !(budget > 0) || !Number.isInteger(minEpochs) || !(minEpochs >= 1))
    throw usageError('--epochs, --min-epochs and --js-budget must be positive', usageOf(COMMAND));
  if (!existsSync(values.python)) {
    throw new ProjectError('NOT_FOUND', `the Python peer ${values.python} is not there`, {
      subject: values.python,
      hint: 'run `bash bench/peer/setup.sh keras` (tensorflow-cpu from PyPI), or pass --python',
    });
  }
  return {
    workloads: values.workloads.split(','),
    epochs,
    minEpochs,
    budget,
    python: values.python,
    results: values.results,
    demo: values.demo,
  };
}

/** bench/results/<stem>.json and .md, the markdown printed too. */
async function writeResults(results: WorkloadResult[], stem: string): Promise<void> {
  const meta = {
    date: new Date().toISOString(),
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node,
  };
  const md = markdown({ meta, workloads: results });
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  if (!/^[a-z0-9-]+$/.test(stem))
    throw new ProjectError('USAGE', `--results: a file name stem, not "${stem}"`);
  await writeFile(
    join(dir, `${stem}.json`),
    stableStringify({
      meta,
      workloads: results.map((r) => ({
        ...r,
        workload: { ...r.workload, config: undefined, model: r.workload.config.model },
      })),
    }),
  );
  await writeFile(join(dir, `${stem}.md`), md);
  console.log(`\n${md}`);
  console.log(`wrote bench/results/${stem}.json and ${stem}.md`);
}

/** --demo: the demo config trained end to end with train() on the default backend; its accuracy and wall time. */
async function trainDemo(): Promise<void> {
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

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
