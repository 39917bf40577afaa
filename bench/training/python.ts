/**
 * The Python side of the training benchmark (bench/training/main.ts):
 * bench/training/peer.py, TensorFlow/Keras on the CPU (model.compile +
 * model.fit), on the files bench/training/workloads.ts wrote.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import { type EpochRecord, type SideResult, summarize } from './report.ts';
import type { Prepared, Workload } from './workloads.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Train with the peer; its epochs come back as JSON lines on stdout (echoed as they come). */
export async function trainPython(
  w: Workload,
  p: Prepared,
  python: string,
  epochs: { most: number; fewest: number },
): Promise<SideResult> {
  const args = [
    join(ROOT, 'bench', 'training', 'peer.py'),
    '--model-dir',
    p.modelDir,
    '--data',
    p.dataDir,
    '--epochs',
    String(epochs.most),
    '--min-epochs',
    String(epochs.fewest),
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
