/**
 * The one writer of a model artifact folder (docs/artifact.md): every file
 * into a temporary sibling folder, digests.json last, then one rename, so a
 * reader never sees half an artifact. Training calls it once per run.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { ProjectError, writeFileAtomic, writeJsonAtomic } from '../../platform/index.ts';
import type { ReferenceStats } from '../drift/index.ts';
import { GOLDEN_FILE, type GoldenEvaluation } from '../golden/index.ts';
import { saveModelToDir } from '../model-io.ts';
import type { PreprocessingSpec } from '../preprocessing.ts';
import { type ArtifactDigests, computeDigests, DIGESTS_FILE } from './format.ts';

export interface ArtifactContents {
  model: tf.LayersModel;
  labels: string[];
  preprocessing: PreprocessingSpec;
  referenceStats: ReferenceStats;
  /** metrics.json: the test-split evaluation (training/evaluate.ts ClassificationMetrics). */
  metrics: object;
  /** training.json (provenance); see TrainingRecord in training/train.ts. */
  training: unknown;
  confusionMatrixPng: Uint8Array;
  learningCurvesPng: Uint8Array;
  /** golden.json: the predictions on the golden set (optional: only with a `golden` config). */
  golden?: GoldenEvaluation;
}

async function isNonEmptyDir(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isDirectory()) return true;
    return (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

/** Throw CONFLICT (before any work) when `dir` exists and is not empty, unless overwrite. */
export async function assertArtifactDirFree(dir: string, overwrite = false): Promise<void> {
  const target = resolve(dir);
  if (!overwrite && (await isNonEmptyDir(target))) {
    throw new ProjectError('CONFLICT', `${target}: artifact folder already exists and is not empty`, {
      subject: target,
      hint: 'choose another --out folder, or pass --force to replace it',
    });
  }
}

/**
 * Write the artifact folder `dir`: every file into a temporary sibling
 * folder, then digests.json, then one rename. `dir` must not exist or be
 * empty, unless `overwrite` (then the old folder is replaced).
 */
export async function writeArtifact(
  dir: string,
  c: ArtifactContents,
  opts: { overwrite?: boolean } = {},
): Promise<ArtifactDigests> {
  const target = resolve(dir);
  await assertArtifactDirFree(target, opts.overwrite);
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await saveModelToDir(c.model, tmp);
    await writeJsonAtomic(join(tmp, 'labels.json'), c.labels);
    await writeJsonAtomic(join(tmp, 'preprocessing.json'), c.preprocessing);
    await writeJsonAtomic(join(tmp, 'reference-stats.json'), c.referenceStats);
    await writeJsonAtomic(join(tmp, 'metrics.json'), c.metrics);
    await writeJsonAtomic(join(tmp, 'training.json'), c.training);
    await writeFileAtomic(join(tmp, 'confusion-matrix.png'), c.confusionMatrixPng);
    await writeFileAtomic(join(tmp, 'learning-curves.png'), c.learningCurvesPng);
    if (c.golden) await writeJsonAtomic(join(tmp, GOLDEN_FILE), c.golden);
    const digests = await computeDigests(tmp);
    await writeJsonAtomic(join(tmp, DIGESTS_FILE), digests);
    await rm(target, { recursive: true, force: true });
    await rename(tmp, target);
    return digests;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
