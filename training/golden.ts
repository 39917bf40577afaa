/**
 * The golden evaluation set (training config `golden`): loaded through the
 * same data sources as training data (the demo's generator with its own
 * seed, or an image folder behind a data pointer: one fetcher), its digest
 * checked against the one the config pins, and scored by a model into the
 * predictions that golden.json (model/golden) carries. See docs/promotion.md.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ChampionPredictions, GoldenEvaluation } from '../model/golden/index.ts';
import { type PreprocessingSpec, toModelInput } from '../model/preprocessing.ts';
import { sha256 } from '../platform/digest.ts';
import { ProjectError } from '../platform/index.ts';
import type { ObjectStore } from '../platform/object-store/index.ts';
import type { GoldenConfig } from './config.ts';
import { type LabeledImage, loadDataSource } from './data/index.ts';
import { argmaxRows, predictProbabilities } from './evaluate.ts';

/** A loaded golden set whose digest is the pinned one. */
export interface GoldenSet {
  name: string;
  /** `sha256:<hex>`, equal to the config's `golden.digest`. */
  digest: string;
  /** `sha256:<hex>` over the example ids in the order they are scored. */
  orderDigest: string;
  labels: string[];
  items: LabeledImage[];
}

/**
 * Generate or fetch the golden set, then check its digest; DIGEST_MISMATCH
 * naming both digests and what to do when it is not the pinned one.
 */
export async function loadGoldenSet(
  golden: GoldenConfig,
  options: { fetch?: typeof fetch; objectStore?: ObjectStore; what?: string } = {},
): Promise<GoldenSet> {
  const ds = await loadDataSource({
    kind: golden.kind,
    path: golden.path,
    ...(golden.pointer ? { pointer: golden.pointer } : {}),
    ...(golden.seed !== undefined ? { seed: golden.seed } : {}),
    ...(golden.perClass !== undefined ? { perClass: golden.perClass } : {}),
    ...(golden.size !== undefined ? { size: golden.size } : {}),
    ...(golden.channels !== undefined ? { channels: golden.channels } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.objectStore ? { objectStore: options.objectStore } : {}),
  });
  if (ds.digest.root !== golden.digest) {
    const where = options.what ?? 'the training config';
    throw new ProjectError(
      'DIGEST_MISMATCH',
      `golden set "${golden.name}": ${golden.kind === 'generated' ? 'the generated' : 'the'} data in ${ds.root} has digest ${ds.digest.root}, but golden.digest in ${where} pins ${golden.digest}`,
      {
        subject: 'golden.digest',
        hint:
          golden.kind === 'generated'
            ? 'the generator settings (golden.seed, perClass, size, channels) or the generator changed; if the golden set is meant to change, set golden.digest to the new digest in a reviewed pull request (the champion is then scored on it again by ci:train)'
            : `${golden.pointer ?? 'the folder'} holds another data set than golden.digest pins: point golden.pointer at the pinned golden set, or pin the new digest in a reviewed pull request (the champion is then scored on it again by ci:train)`,
      },
    );
  }
  const items = [...ds.items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    name: golden.name,
    digest: ds.digest.root,
    orderDigest: `sha256:${sha256(items.map((it) => it.id).join('\n'))}`,
    labels: ds.labels,
    items,
  };
}

/**
 * A model's predicted class per golden example, as an index into the golden
 * set's labels (matched by class name; −1 for a class the golden set lacks).
 */
export function predictGolden(
  model: tf.LayersModel,
  spec: PreprocessingSpec,
  modelLabels: readonly string[],
  set: GoldenSet,
  batchSize = 64,
): number[] {
  const size = spec.width * spec.height * spec.channels;
  const x = new Float32Array(set.items.length * size);
  set.items.forEach((it, i) => {
    x.set(toModelInput(it.image, spec), i * size);
  });
  const shape = { height: spec.height, width: spec.width, channels: spec.channels };
  const probs = predictProbabilities(model, x, set.items.length, shape, batchSize);
  const toGolden = modelLabels.map((l) => set.labels.indexOf(l));
  return Array.from(argmaxRows(probs, modelLabels.length), (k) => toGolden[k] ?? -1);
}

/** The champion side as train() receives it: scored already, or why not. */
export type ChampionScore = { predictions: ChampionPredictions; env: string } | { note: string; env: string };

/** golden.json of a model scored on `set`, with the champion's predictions when given. */
export function goldenEvaluation(
  set: GoldenSet,
  predicted: number[],
  champion?: ChampionScore,
): GoldenEvaluation {
  return {
    goldenVersion: 1,
    name: set.name,
    digest: set.digest,
    orderDigest: set.orderDigest,
    labels: [...set.labels],
    truth: set.items.map((it) => it.label),
    predicted,
    ...(champion ? { championEnv: champion.env } : {}),
    ...(champion && 'predictions' in champion ? { champion: champion.predictions } : {}),
    ...(champion && 'note' in champion ? { championNote: champion.note } : {}),
  };
}
