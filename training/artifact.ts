/**
 * The model artifact folder (docs/artifact.md): written by training in one
 * piece (a temporary sibling folder renamed into place), read by serving,
 * `scripts/lock.ts verify` and the drift job through {@link loadArtifact},
 * which checks every digest before it trusts anything in the folder.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { ReferenceStats } from '../model/drift/index.ts';
import { GOLDEN_FILE, type GoldenEvaluation } from '../model/golden/index.ts';
import { loadModelFromDir, saveModelToDir } from '../model/model-io.ts';
import { type PreprocessingSpec, parsePreprocessingSpec } from '../model/preprocessing.ts';
import {
  compileValidator,
  listFiles,
  ProjectError,
  readJsonFile,
  rootDigest,
  sha256File,
  writeFileAtomic,
  writeJsonAtomic,
} from '../platform/index.ts';
import type { ClassificationMetrics } from './evaluate.ts';

export const ARTIFACT_FILES = [
  'model.json',
  'weights.bin',
  'labels.json',
  'preprocessing.json',
  'reference-stats.json',
  'metrics.json',
  'training.json',
  'confusion-matrix.png',
  'learning-curves.png',
] as const;
export const DIGESTS_FILE = 'digests.json';

/** digests.json */
export interface ArtifactDigests {
  algorithm: 'sha256';
  /** file name → hex sha256, every file of the folder except digests.json. */
  files: Record<string, string>;
  /** rootDigest(files), hex. */
  root: string;
}

export interface ArtifactContents {
  model: tf.LayersModel;
  labels: string[];
  preprocessing: PreprocessingSpec;
  referenceStats: ReferenceStats;
  metrics: ClassificationMetrics;
  /** training.json (provenance); see TrainingRecord in ./train.ts. */
  training: unknown;
  confusionMatrixPng: Uint8Array;
  learningCurvesPng: Uint8Array;
  /** golden.json: the predictions on the golden set (optional: only with a `golden` config). */
  golden?: GoldenEvaluation;
}

const validateDigests = compileValidator<ArtifactDigests>({
  type: 'object',
  additionalProperties: false,
  required: ['algorithm', 'files', 'root'],
  properties: {
    algorithm: { const: 'sha256' },
    files: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
      additionalProperties: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    },
    root: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  },
});

const validateLabels = compileValidator<string[]>({
  type: 'array',
  minItems: 2,
  items: { type: 'string', minLength: 1 },
});

async function isNonEmptyDir(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isDirectory()) return true;
    return (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

/** sha256 of every file in `dir` (except digests.json) and their root digest. */
export async function computeDigests(dir: string): Promise<ArtifactDigests> {
  const files: Record<string, string> = {};
  for (const name of await listFiles(dir)) {
    if (name !== DIGESTS_FILE) files[name] = await sha256File(join(dir, name));
  }
  return { algorithm: 'sha256', files, root: rootDigest(files) };
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

export interface VerifyOptions {
  /** Digests pinned elsewhere (the lock entry's `digests`); each must match too. */
  expectedFiles?: Record<string, string>;
  /** The pinned root digest (lock `rootDigest`, SERVING_MODEL_SHA256). */
  expectedRoot?: string;
}

const mismatch = (path: string, what: string, hint: string, details?: unknown) =>
  new ProjectError('DIGEST_MISMATCH', `${path}: ${what}`, { subject: path, hint, details });

/**
 * Check the folder against its digests.json (and against pinned digests,
 * when given): every listed file exists with its sha256, no unlisted file
 * is present, every required artifact file is listed, and the root matches.
 *
 * @throws ProjectError DIGEST_MISMATCH naming the first file that differs,
 *   NOT_FOUND for a missing digests.json or listed file, INVALID for a
 *   malformed digests.json.
 */
export async function verifyArtifact(dir: string, opts: VerifyOptions = {}): Promise<ArtifactDigests> {
  const root = resolve(dir);
  const digestsPath = join(root, DIGESTS_FILE);
  const digests = validateDigests(await readJsonFile(digestsPath), digestsPath);
  const redo = 'the artifact was changed or damaged after export: fetch it again or re-run training';
  for (const required of ARTIFACT_FILES) {
    if (!(required in digests.files)) {
      throw new ProjectError('INVALID', `${digestsPath}: does not list ${required}`, {
        subject: digestsPath,
        hint: redo,
      });
    }
  }
  const present = (await listFiles(root)).filter((f) => f !== DIGESTS_FILE);
  for (const name of present) {
    if (!(name in digests.files)) {
      throw mismatch(join(root, name), `file is not listed in ${DIGESTS_FILE}`, redo);
    }
  }
  for (const [name, expected] of Object.entries(digests.files)) {
    const path = join(root, name);
    if (!present.includes(name)) {
      throw new ProjectError('NOT_FOUND', `${path}: listed in ${DIGESTS_FILE} but missing`, {
        subject: path,
        hint: redo,
      });
    }
    const actual = await sha256File(path);
    if (actual !== expected) {
      throw mismatch(path, `sha256 is ${actual}, ${DIGESTS_FILE} says ${expected}`, redo, {
        file: name,
        expected,
        actual,
      });
    }
    const pinned = opts.expectedFiles?.[name];
    if (pinned !== undefined && pinned !== actual) {
      throw mismatch(
        path,
        `sha256 is ${actual}, the pinned digest is ${pinned}`,
        'this is not the pinned model version',
        {
          file: name,
          expected: pinned,
          actual,
        },
      );
    }
  }
  for (const name of Object.keys(opts.expectedFiles ?? {})) {
    if (!(name in digests.files)) {
      throw new ProjectError('NOT_FOUND', `${join(root, name)}: pinned but not in the artifact`, {
        subject: join(root, name),
        hint: 'this is not the pinned model version',
      });
    }
  }
  const computedRoot = rootDigest(digests.files);
  if (computedRoot !== digests.root) {
    throw mismatch(digestsPath, `root is ${digests.root}, the files give ${computedRoot}`, redo);
  }
  if (opts.expectedRoot !== undefined && opts.expectedRoot.replace(/^sha256:/, '') !== computedRoot) {
    throw mismatch(
      root,
      `root digest is ${computedRoot}, the pinned one is ${opts.expectedRoot}`,
      'this is not the pinned model version',
    );
  }
  return digests;
}

/** A loaded, verified artifact: its contents except the plots, with where it is and its digests. */
export interface Artifact
  extends Omit<ArtifactContents, 'confusionMatrixPng' | 'learningCurvesPng' | 'golden'> {
  dir: string;
  digests: ArtifactDigests;
}

/**
 * Verify the digests (see {@link verifyArtifact}), then load the model and
 * the JSON files. labels.json must have one entry per model output.
 */
export async function loadArtifact(dir: string, opts: VerifyOptions = {}): Promise<Artifact> {
  const root = resolve(dir);
  const digests = await verifyArtifact(root, opts);
  const labels = validateLabels(await readJsonFile(join(root, 'labels.json')), join(root, 'labels.json'));
  const preprocessing = parsePreprocessingSpec(
    await readJsonFile(join(root, 'preprocessing.json')),
    join(root, 'preprocessing.json'),
  );
  const model = await loadModelFromDir(root);
  const outputs = (model.outputs[0]?.shape ?? []).at(-1);
  if (outputs !== labels.length) {
    model.dispose();
    throw new ProjectError(
      'INVALID',
      `${join(root, 'labels.json')}: ${labels.length} labels, but the model has ${outputs} outputs`,
      { subject: join(root, 'labels.json'), hint: 're-export the artifact' },
    );
  }
  return {
    dir: root,
    digests,
    model,
    labels,
    preprocessing,
    referenceStats: (await readJsonFile(join(root, 'reference-stats.json'))) as ReferenceStats,
    metrics: (await readJsonFile(join(root, 'metrics.json'))) as ClassificationMetrics,
    training: await readJsonFile(join(root, 'training.json')),
  };
}

/** Read a file of a verified artifact (e.g. a PNG to upload). */
export async function readArtifactFile(artifact: Artifact, name: string): Promise<Buffer> {
  if (!(name in artifact.digests.files)) {
    throw new ProjectError('NOT_FOUND', `${join(artifact.dir, name)}: not part of the artifact`, {
      subject: join(artifact.dir, name),
    });
  }
  return readFile(join(artifact.dir, name));
}
