import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { ProjectError } from '../platform/index.ts';
import { loadBestCheckpoint } from './checkpoint.ts';
import type { TrainingSection } from './config.ts';
import { mulberry32 } from './data/index.ts';
import { type ArrayData, type EpochMetrics, type LoopOptions, runTrainingLoop, writeTarget } from './loop.ts';
import { buildModel } from './models.ts';

const shape = { height: 8, width: 8, channels: 1 };

/** Two learnable classes on 8x8: bright left half vs bright right half, with noise. */
function halves(count: number, seed: number): ArrayData {
  const rng = mulberry32(seed);
  const x = new Float32Array(count * 64);
  const labels = Int32Array.from({ length: count }, (_, i) => i % 2);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < 64; p++) {
      const left = p % 8 < 4;
      x[i * 64 + p] = (left === (labels[i] === 0) ? 0.8 : 0.2) + (rng() - 0.5) * 0.2;
    }
  }
  return { x, labels, count };
}

const training: TrainingSection = {
  epochs: 3,
  batchSize: 8,
  learningRate: 0.01,
  warmupEpochs: 0,
  schedule: 'cosine',
  earlyStopping: { patience: 5, minDelta: 0 },
};

async function options(over: Partial<LoopOptions> = {}): Promise<LoopOptions> {
  const lines: string[] = [];
  return {
    model: buildModel({
      model: { builder: 'small-cnn', filters: [4], denseUnits: 0, dropout: 0.1 },
      input: { width: 8, height: 8, channels: 1 },
      numClasses: 2,
      seed: 1,
    }),
    shape,
    numClasses: 2,
    train: halves(24, 1),
    validation: halves(8, 2),
    training,
    augmentation: { enabled: true, crop: 1, flip: false },
    seed: 1,
    checkpointDir: await mkdtemp(join(tmpdir(), 'loop-ckpt-')),
    progress: false,
    log: (l) => lines.push(l),
    ...over,
  };
}

describe('runTrainingLoop', () => {
  it('trains, reports every epoch to the callback and as one line, and keeps the best weights', async () => {
    const lines: string[] = [];
    const seen: [number, EpochMetrics][] = [];
    const o = await options({
      log: (l) => lines.push(l),
      callbacks: { onEpochEnd: (e, m) => void seen.push([e, m]) },
    });
    const r = await runTrainingLoop(o);
    expect(r.epochsRun).toBe(3);
    expect(seen.map(([e]) => e)).toEqual([1, 2, 3]);
    expect(Object.keys(seen[0]![1]).sort()).toEqual(['accuracy', 'loss', 'lr', 'val_accuracy', 'val_loss']);
    // First how a step runs (this test's backend: pure JS), then one line per epoch.
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe(
      'training step: tfjs trainOnBatch, op by op: a compiled step needs the native backend, this is cpu',
    );
    expect(lines[1]).toMatch(/^epoch 1\/3 {2}loss \d\.\d{4} {2}acc .* val_loss .* val_acc .* lr 1\.00e-2$/);
    const bestLoss = Math.min(...r.history.map((h) => h.val_loss));
    expect(r.history[r.bestEpoch - 1]!.val_loss).toBe(bestLoss);
    // The checkpoint folder holds exactly the best epoch.
    const entries = (await readdir(o.checkpointDir)).sort();
    expect(entries).toEqual(['best.json', `epoch-000${r.bestEpoch}`]);
    o.model.dispose();
  });

  it('stops early when the monitored metric stops improving', async () => {
    const o = await options({
      training: {
        ...training,
        epochs: 20,
        learningRate: 1e-9,
        earlyStopping: { patience: 2, minDelta: 0.5, monitor: 'val_accuracy' },
      },
    });
    const r = await runTrainingLoop(o);
    expect(r.stoppedEarly).toBe(true);
    expect(r.epochsRun).toBe(3); // epoch 1 sets the best, 2 and 3 do not improve by 0.5
    o.model.dispose();
  });

  it('on abort during epoch 2 keeps the epoch-1 checkpoint loadable and names it', async () => {
    const controller = new AbortController();
    const o = await options({
      signal: controller.signal,
      callbacks: { onEpochEnd: (epoch) => (epoch === 1 ? controller.abort() : undefined) },
    });
    const err = (await runTrainingLoop(o).catch((e: unknown) => e)) as ProjectError;
    expect(err).toBeInstanceOf(ProjectError);
    expect(err.code).toBe('INTERRUPTED');
    const path = join(o.checkpointDir, 'epoch-0001');
    expect(err.message).toContain(
      `training interrupted during epoch 2; the last good checkpoint (epoch 1) is at ${path}`,
    );
    const { model, info } = await loadBestCheckpoint(o.checkpointDir);
    expect(info.epoch).toBe(1);
    expect(info.path).toBe(path);
    expect((model.predict(tf.zeros([1, 8, 8, 1])) as tf.Tensor).shape).toEqual([1, 2]);
    model.dispose();
    o.model.dispose();
  });

  it('on a crash at epoch 2 keeps the epoch-1 checkpoint and names it in the error', async () => {
    const o = await options({
      callbacks: {
        onEpochEnd: (epoch) => {
          if (epoch === 2) throw new Error('disk on fire');
        },
      },
    });
    const err = (await runTrainingLoop(o).catch((e: unknown) => e)) as Error;
    const path = join(o.checkpointDir, 'epoch-0001');
    expect(err.message).toBe(
      `training failed during epoch 2: disk on fire\n  → the last good checkpoint (epoch 1) is at ${path}`,
    );
    expect((err.cause as Error).message).toBe('disk on fire');
    const { model, info } = await loadBestCheckpoint(o.checkpointDir);
    expect(info.epoch).toBe(1);
    model.dispose();
    o.model.dispose();
  });

  it('label smoothing: (1 - s) on the true class plus s / classes everywhere, summing to 1', () => {
    const y = new Float32Array(8);
    writeTarget(y, 1, 2, 4, 0.2);
    const row = Array.from(y.subarray(4));
    [0.05, 0.05, 0.85, 0.05].forEach((v, i) => {
      expect(row[i]).toBeCloseTo(v, 6);
    });
    expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    writeTarget(y, 0, 0, 4);
    expect(Array.from(y.subarray(0, 4))).toEqual([1, 0, 0, 0]);
  });

  it('trains with SGD on the one-cycle schedule, label smoothing, and calls afterEpoch with the model', async () => {
    const seen: number[] = [];
    const o = await options({
      training: {
        ...training,
        epochs: 2,
        learningRate: 0.05,
        schedule: 'one-cycle',
        optimizer: { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
        labelSmoothing: 0.1,
      },
      afterEpoch: (model, epoch) => {
        expect(model).toBe(o.model);
        seen.push(epoch);
      },
    });
    const r = await runTrainingLoop(o);
    expect(seen).toEqual([1, 2]);
    expect(r.history[0]?.lr).toBeCloseTo(0.05 * 0.2, 12);
    expect(r.history.every((h) => Number.isFinite(h.loss))).toBe(true);
  });
});
