/**
 * Deterministic train/validation/test split: stratified per class (each
 * class is cut in the same proportions), shuffled with a seeded PRNG over
 * ids sorted first, so the same data and seed give the same split on any
 * machine and in any file order. The record (seed, fractions, counts, digest
 * of the ids) is written with the model.
 */
import { ProjectError, sha256 } from '../../platform/index.ts';
import { mulberry32, shuffleInPlace } from './rng.ts';
import type { Dataset, LabeledImage, Split, SplitRecord } from './types.ts';

export interface SplitOptions {
  seed: number;
  /** Fraction of each class for validation, in [0, 1). */
  validation: number;
  /** Fraction of each class for test, in [0, 1). */
  test: number;
}

const byId = (a: LabeledImage, b: LabeledImage): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** "sha256:<hex>" over the sorted ids of each split, one "<split>\t<id>" line each. */
export function splitDigest(
  parts: Record<'train' | 'validation' | 'test', readonly { id: string }[]>,
): string {
  const lines: string[] = [];
  for (const name of ['train', 'validation', 'test'] as const) {
    for (const id of parts[name].map((x) => x.id).sort()) lines.push(`${name}\t${id}\n`);
  }
  return `sha256:${sha256(lines.join(''))}`;
}

/** Split a dataset; the train part is shuffled (classes mixed), the others are in id order. */
export function splitDataset(ds: Dataset, opts: SplitOptions): Split {
  const { seed, validation, test } = opts;
  const okFraction = (f: number) => Number.isFinite(f) && f >= 0 && f < 1;
  if (!Number.isInteger(seed) || !okFraction(validation) || !okFraction(test) || validation + test >= 1) {
    throw new ProjectError(
      'USAGE',
      `split: seed ${seed}, validation ${validation}, test ${test}: need an integer seed and fractions in [0, 1) that sum below 1`,
      { subject: 'split', hint: 'e.g. { seed: 42, validation: 0.15, test: 0.15 }' },
    );
  }
  const rng = mulberry32(seed);
  const parts = { train: [] as LabeledImage[], validation: [] as LabeledImage[], test: [] as LabeledImage[] };
  const classCounts: SplitRecord['classCounts'] = { train: {}, validation: {}, test: {} };
  for (const [label, name] of ds.labels.entries()) {
    const items = shuffleInPlace(ds.items.filter((it) => it.label === label).sort(byId), rng);
    const nTest = Math.round(items.length * test);
    const nVal = Math.round(items.length * validation);
    const cut = {
      test: items.slice(0, nTest),
      validation: items.slice(nTest, nTest + nVal),
      train: items.slice(nTest + nVal),
    };
    for (const part of ['train', 'validation', 'test'] as const) {
      parts[part].push(...cut[part]);
      classCounts[part][name] = cut[part].length;
    }
  }
  shuffleInPlace(parts.train, rng);
  parts.validation.sort(byId);
  parts.test.sort(byId);
  return {
    ...parts,
    record: {
      seed,
      fractions: { validation, test },
      counts: { train: parts.train.length, validation: parts.validation.length, test: parts.test.length },
      classCounts,
      digest: splitDigest(parts),
    },
  };
}
