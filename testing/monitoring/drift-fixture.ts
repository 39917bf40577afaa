/**
 * Test-only: serving's tiny fixture artifact with a REAL reference-stats.json,
 * computed by model/drift/reference.ts on seeded in-distribution images
 * (testing/drift/images.ts) and the fixture model's own predictions, so
 * drift tests compare live traffic with what training would have written.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { referenceStats } from '../../model/drift/index.ts';
import { defaultSpecFor, preprocessBatch } from '../../model/preprocessing.ts';
import { rootDigest, sha256, stableStringify } from '../../platform/index.ts';
import { type GeneratedImage, generateImages, type ImageDistribution } from '../drift/images.ts';
import {
  buildFixtureModel,
  FIXTURE_LABELS,
  FIXTURE_SIZE,
  type FixtureArtifact,
  writeFixtureArtifact,
} from '../serving/fixture.ts';

/** The distribution the reference is computed from: the "training" data of the drift tests. */
export const REFERENCE_DISTRIBUTION: ImageDistribution = {};

/** Probabilities of the fixture model (seed 42) for `images`, row-major. */
export async function fixtureProbabilities(images: readonly GeneratedImage[]): Promise<Float32Array> {
  const model = buildFixtureModel(42);
  const spec = defaultSpecFor({ width: FIXTURE_SIZE, height: FIXTURE_SIZE, channels: 1 });
  const x = preprocessBatch(
    images.map((g) => g.image),
    spec,
  );
  try {
    const y = model.predict(x) as tf.Tensor;
    const probs = (await y.data()) as Float32Array;
    y.dispose();
    return probs;
  } finally {
    x.dispose();
    model.dispose();
  }
}

/** Replace (or remove, with `undefined`) one file of a fixture artifact and re-digest it. */
export async function replaceArtifactFile(
  fixture: FixtureArtifact,
  file: string,
  content: string | Uint8Array | undefined,
): Promise<FixtureArtifact> {
  const digestsPath = join(fixture.dir, 'digests.json');
  const digests = JSON.parse(await readFile(digestsPath, 'utf8')) as { files: Record<string, string> };
  if (content === undefined) {
    await rm(join(fixture.dir, file), { force: true });
    delete digests.files[file];
  } else {
    await writeFile(join(fixture.dir, file), content);
    digests.files[file] = sha256(content);
  }
  const root = rootDigest(digests.files);
  await writeFile(digestsPath, stableStringify({ algorithm: 'sha256', files: digests.files, root }));
  return {
    ...fixture,
    pin: { ...fixture.pin, digests: digests.files, sha256: root },
    env: { ...fixture.env, SERVING_MODEL_DIGESTS: JSON.stringify(digests.files), SERVING_MODEL_SHA256: root },
  };
}

/**
 * Write the serving fixture under `root` with a real reference from
 * `count` seeded in-distribution images (default 600).
 */
export async function writeDriftFixture(root: string, count = 600, seed = 1): Promise<FixtureArtifact> {
  const fixture = await writeFixtureArtifact(root);
  const images = generateImages(count, seed, REFERENCE_DISTRIBUTION);
  const probs = await fixtureProbabilities(images);
  const stats = referenceStats(
    images.map((g) => g.image),
    probs,
    [...FIXTURE_LABELS],
  );
  return replaceArtifactFile(fixture, 'reference-stats.json', stableStringify(stats));
}
