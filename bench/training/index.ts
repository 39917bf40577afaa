/**
 * Training throughput per backend and builder, run on demand
 * (`npm run bench:training`), never as a test: timings depend on the
 * machine and its load. Prints one table of training and inference
 * samples/second for every training backend that loads here, for both
 * model builders at their usual input sizes. With `--demo`, also trains the
 * demo config end to end and prints its test accuracy and wall time.
 *
 * Flags: --batches N (timed training batches, default 3), --batch-size N
 * (default 32), --builders LIST (default small-cnn,deep-cnn), --demo, --config PATH (for --demo, default
 * training/configs/demo.json), --data DIR (for --demo, default a temp dir).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, selectBackend, TRAINING_ORDER } from '../../lib/backend.ts';
import { isMain, ProjectError, parseFlags, runMain } from '../../lib/index.ts';
import { type BuilderName, buildModel, loadTrainingConfig, train } from '../../training/index.ts';

const USAGE =
  'usage: npm run bench:training -- [--batches N] [--batch-size N] [--builders small-cnn,deep-cnn] [--demo] [--config PATH] [--data DIR]';

const SHAPES: Record<BuilderName, { width: number; height: number; channels: 1 | 3; classes: number }> = {
  'small-cnn': { width: 16, height: 16, channels: 1, classes: 4 },
  'deep-cnn': { width: 32, height: 32, channels: 3, classes: 10 },
};

export interface BenchRow {
  backend: string;
  builder: BuilderName;
  input: string;
  parameters: number;
  trainSamplesPerSecond: number;
  predictSamplesPerSecond: number;
}

/** Time `batches` training steps and as many predictions of one random batch. */
export async function benchBuilder(
  builder: BuilderName,
  batches: number,
  batchSize: number,
): Promise<BenchRow> {
  const s = SHAPES[builder];
  const model = buildModel({
    model: { builder },
    input: { width: s.width, height: s.height, channels: s.channels },
    numClasses: s.classes,
    seed: 1,
  });
  model.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const x = tf.randomUniform([batchSize, s.height, s.width, s.channels], 0, 1, 'float32', 1);
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batchSize }, (_, i) => i % s.classes),
      'int32',
    ),
    s.classes,
  );
  try {
    await model.trainOnBatch(x, y); // warm-up: kernel set-up, first allocation
    let t = performance.now();
    for (let i = 0; i < batches; i++) await model.trainOnBatch(x, y);
    const trainMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < batches; i++) {
      const p = model.predict(x) as tf.Tensor;
      await p.data();
      p.dispose();
    }
    const predictMs = performance.now() - t;
    return {
      backend: tf.getBackend(),
      builder,
      input: `${s.width}x${s.height}x${s.channels}`,
      parameters: model.countParams(),
      trainSamplesPerSecond: (batches * batchSize * 1000) / trainMs,
      predictSamplesPerSecond: (batches * batchSize * 1000) / predictMs,
    };
  } finally {
    x.dispose();
    y.dispose();
    model.dispose();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      batches: { type: 'string', default: '3' },
      'batch-size': { type: 'string', default: '32' },
      builders: { type: 'string', default: 'small-cnn,deep-cnn' },
      demo: { type: 'boolean', default: false },
      config: { type: 'string', default: 'training/configs/demo.json' },
      data: { type: 'string' },
    },
    USAGE,
  );
  const batches = Number(values.batches);
  const batchSize = Number(values['batch-size']);
  const builders = values.builders.split(',') as BuilderName[];
  for (const b of builders) {
    if (!(b in SHAPES)) throw new ProjectError('USAGE', `--builders: unknown builder "${b}"\n\n${USAGE}`);
  }
  const rows: BenchRow[] = [];
  for (const name of TRAINING_ORDER as BackendName[]) {
    try {
      await selectBackend([name]);
    } catch (e) {
      console.error(`backend ${name}: not available (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    for (const builder of builders) {
      rows.push(await benchBuilder(builder, batches, batchSize));
    }
  }
  console.log(`training throughput, batch size ${batchSize}, ${batches} timed batches\n`);
  console.log(
    table([
      ['backend', 'builder', 'input', 'params', 'train samples/s', 'predict samples/s'],
      ...rows.map((r) => [
        r.backend,
        r.builder,
        r.input,
        String(r.parameters),
        r.trainSamplesPerSecond.toFixed(1),
        r.predictSamplesPerSecond.toFixed(1),
      ]),
    ]),
  );
  if (values.demo) {
    const config = await loadTrainingConfig(values.config);
    const out = await mkdtemp(join(tmpdir(), 'bench-training-'));
    try {
      const started = performance.now();
      const result = await train(config, {
        outDir: join(out, 'artifact'),
        dataPath: values.data ?? join(out, 'data'),
        progress: false,
      });
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `\ndemo (${values.config}): backend ${result.backend.name}, test accuracy ${(result.metrics.accuracy * 100).toFixed(1)}%, ` +
          `macro-F1 ${result.metrics.macro_f1.toFixed(3)}, ${result.epochsRun} epochs (best ${result.bestEpoch}), ` +
          `${result.samplesPerSecond.toFixed(1)} train samples/s, wall ${seconds.toFixed(1)} s (data generation included)`,
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
