/**
 * Best-checkpoint keeping. Each checkpoint is a complete folder
 * `<dir>/epoch-NNNN/` (model.json, weights.bin, checkpoint.json) written
 * under a temporary name and renamed into place; then `<dir>/best.json`
 * (written atomically) is pointed at it, and older checkpoint folders are
 * removed. At every instant `best.json` names a complete checkpoint, so a
 * crash or Ctrl-C at any point leaves the last good one loadable.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { loadModelFromDir, saveModelToDir } from '../model/model-io.ts';
import { ProjectError, readJsonFile, writeJsonAtomic } from '../platform/index.ts';

export interface CheckpointInfo {
  /** 1-based epoch the weights are from. */
  epoch: number;
  /** Metrics of that epoch. */
  metrics: Record<string, number>;
  /** Absolute path of the checkpoint folder. */
  path: string;
}

const POINTER = 'best.json';

/** Save `model` as the new best checkpoint of `dir`; returns where it lies. */
export async function saveCheckpoint(
  model: tf.LayersModel,
  dir: string,
  epoch: number,
  metrics: Record<string, number>,
): Promise<CheckpointInfo> {
  await mkdir(dir, { recursive: true });
  const name = `epoch-${String(epoch).padStart(4, '0')}`;
  const tmp = join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  const path = join(dir, name);
  try {
    await saveModelToDir(model, tmp);
    await writeJsonAtomic(join(tmp, 'checkpoint.json'), { epoch, metrics });
    await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  await writeJsonAtomic(join(dir, POINTER), { epoch, metrics, path: name });
  for (const entry of await readdir(dir)) {
    if (entry !== name && entry.startsWith('epoch-'))
      await rm(join(dir, entry), { recursive: true, force: true });
  }
  return { epoch, metrics, path };
}

/** The best checkpoint recorded in `dir`, or undefined when there is none yet. */
export async function readBestCheckpoint(dir: string): Promise<CheckpointInfo | undefined> {
  let pointer: unknown;
  try {
    pointer = await readJsonFile(join(dir, POINTER));
  } catch (e) {
    if (e instanceof ProjectError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
  const p = pointer as { epoch?: unknown; metrics?: unknown; path?: unknown };
  if (typeof p.epoch !== 'number' || typeof p.path !== 'string' || p.path.includes('/')) {
    throw new ProjectError('INVALID', `${join(dir, POINTER)}: not a checkpoint pointer`, {
      subject: join(dir, POINTER),
      hint: 'delete the checkpoint folder and train again',
    });
  }
  return { epoch: p.epoch, metrics: (p.metrics ?? {}) as Record<string, number>, path: join(dir, p.path) };
}

/** Load the best checkpoint's model; NOT_FOUND naming `dir` when there is none. */
export async function loadBestCheckpoint(
  dir: string,
): Promise<{ model: tf.LayersModel; info: CheckpointInfo }> {
  const info = await readBestCheckpoint(dir);
  if (!info) {
    throw new ProjectError('NOT_FOUND', `${dir}: no checkpoint (no ${POINTER})`, { subject: dir });
  }
  return { model: await loadModelFromDir(info.path), info };
}
