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
  /**
   * Fraction of each class for test, in [0, 1); or "folder": the data's own
   * test set (the items whose `subset` is "test": an image folder's `test/`,
   * CIFAR-10's test batch), never mixed with training data.
   */
  test: number | 'folder';
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
  const testFraction = test === 'folder' ? 0 : test;
  if (
    !Number.isInteger(seed) ||
    !okFraction(validation) ||
    !(test === 'folder' || okFraction(test)) ||
    validation + testFraction >= 1
  ) {
    throw new ProjectError(
      'USAGE',
      `split: seed ${seed}, validation ${validation}, test ${test}: need an integer seed and fractions in [0, 1) that sum below 1 (test may be "folder")`,
      { subject: 'split', hint: 'e.g. { seed: 42, validation: 0.15, test: 0.15 }' },
    );
  }
  const own = ds.splitFolders !== undefined;
  if (test === 'folder' && !own) {
    throw new ProjectError(
      'INVALID',
      `${ds.root}: data.split.test is "folder", but the data has no test set of its own (no train/ and test/ folders)`,
      {
        subject: 'data.split.test',
        hint: 'put the images in train/<class>/ and test/<class>/, or give data.split.test as a fraction',
      },
    );
  }
  if (test !== 'folder' && own && ds.source === 'image-folder') {
    throw new ProjectError(
      'INVALID',
      `${ds.root}: the data comes with its own test set (train/ and test/ folders), but data.split.test is a fraction`,
      {
        subject: 'data.split.test',
        hint: 'set data.split.test to "folder" to evaluate on test/ (a fraction would mix test images into training)',
      },
    );
  }
  const rng = mulberry32(seed);
  const parts = { train: [] as LabeledImage[], validation: [] as LabeledImage[], test: [] as LabeledImage[] };
  const classCounts: SplitRecord['classCounts'] = { train: {}, validation: {}, test: {} };
  for (const [label, name] of ds.labels.entries()) {
    const ofClass = ds.items.filter((it) => it.label === label).sort(byId);
    const fixedTest = test === 'folder' ? ofClass.filter((it) => it.subset === 'test') : [];
    const pool = test === 'folder' ? ofClass.filter((it) => it.subset !== 'test') : ofClass;
    const items = shuffleInPlace(pool, rng);
    const nTest = Math.round(items.length * testFraction);
    const nVal = Math.round(items.length * validation);
    const cut = {
      test: [...fixedTest, ...items.slice(0, nTest)],
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
