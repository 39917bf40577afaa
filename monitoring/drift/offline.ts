/**
 * The offline drift job: a folder of recent input images against the
 * reference statistics of a model artifact. Every artifact file is checked
 * against the artifact's digests.json first and the model built from those
 * bytes (model/artifact, as serving does), the images go through the same
 * decode, `imageStats` and preprocessing as serving, and the same
 * model/drift window and statistics score them (docs/drift.md).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildLayersModel, predictBatch } from '../../model/artifact/layers.ts';
import { modelParts, openArtifactDir } from '../../model/artifact/read.ts';
import {
  type DriftResult,
  type DriftThresholds,
  DriftWindow,
  evaluateDrift,
  parseDriftReferenceBytes,
} from '../../model/drift/index.ts';
import { decodeImage, imageStats, toModelInput } from '../../model/preprocessing.ts';
import { ProjectError } from '../../platform/index.ts';

const IMAGE = /\.(png|jpe?g)$/i;

export interface OfflineDriftOptions {
  artifactDir: string;
  inputsDir: string;
  thresholds?: Partial<DriftThresholds>;
  /** Images per inference batch (default 64). */
  batchSize?: number;
}

export interface OfflineDriftReport extends DriftResult {
  artifact: string;
  inputs: string;
  /** Root digest of the artifact checked. */
  sha256: string;
  /** Files of the inputs folder scored, sorted. */
  files: number;
}

/**
 * Score every PNG/JPEG of `inputsDir` against the artifact's reference.
 * @throws ProjectError NOT_FOUND (no digests.json, no reference), INVALID
 *   (malformed reference, an image that does not decode, naming it), USAGE
 *   (an empty inputs folder), DIGEST_MISMATCH (a changed artifact file).
 */
export async function offlineDrift(opts: OfflineDriftOptions): Promise<OfflineDriftReport> {
  const artifactDir = resolve(opts.artifactDir);
  const inputsDir = resolve(opts.inputsDir);
  const artifact = await openArtifactDir(artifactDir, { name: 'drift', version: 'offline' });
  const refPath = join(artifactDir, 'reference-stats.json');
  const refBytes = artifact.files.get('reference-stats.json');
  if (!refBytes) {
    throw new ProjectError('NOT_FOUND', `${refPath} is missing: the artifact has no drift reference`, {
      subject: refPath,
      hint: 're-export the artifact with training (it writes reference-stats.json)',
    });
  }
  const { parts, labels, spec } = modelParts(artifact);
  const model = await buildLayersModel(parts);
  const inputSize = spec.height * spec.width * spec.channels;
  try {
    const reference = parseDriftReferenceBytes(refBytes, refPath, labels);
    let names: string[];
    try {
      names = (await readdir(inputsDir)).filter((n) => IMAGE.test(n)).sort();
    } catch (e) {
      throw new ProjectError(
        'NOT_FOUND',
        `inputs folder ${inputsDir} cannot be read: ${(e as Error).message}`,
        {
          subject: inputsDir,
          cause: e,
        },
      );
    }
    if (names.length === 0) {
      throw new ProjectError('USAGE', `inputs folder ${inputsDir} has no PNG or JPEG image`, {
        subject: inputsDir,
        hint: 'pass --inputs a folder of recent input images (*.png, *.jpg)',
      });
    }
    const window = new DriftWindow(reference, Number.POSITIVE_INFINITY);
    const batch = opts.batchSize ?? 64;
    const k = labels.length;
    for (let i = 0; i < names.length; i += batch) {
      const part = names.slice(i, i + batch);
      const decoded = await Promise.all(
        part.map(async (n) =>
          decodeImage(new Uint8Array(await readFile(join(inputsDir, n))), { source: join(inputsDir, n) }),
        ),
      );
      const flat = new Float32Array(decoded.length * inputSize);
      decoded.forEach((im, j) => {
        flat.set(toModelInput(im, spec), j * inputSize);
      });
      const probs = await predictBatch(model, parts.input, flat, decoded.length);
      decoded.forEach((im, j) => {
        window.add({ features: imageStats(im), probabilities: probs.subarray(j * k, (j + 1) * k) });
      });
    }
    return {
      artifact: artifactDir,
      inputs: inputsDir,
      sha256: artifact.sha256,
      files: names.length,
      ...evaluateDrift(reference, window.counts(), opts.thresholds),
    };
  } finally {
    model.dispose();
  }
}
