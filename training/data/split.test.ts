import { describe, expect, it } from '@jest/globals';
import { ProjectError } from '../../platform/index.ts';
import { computeDatasetDigest, type Dataset, type LabeledImage, splitDataset } from './index.ts';

const image = { width: 1, height: 1, channels: 1 as const, data: new Uint8Array(1) };

/** A dataset with `counts[c]` items of class c. */
function dataset(counts: number[]): Dataset {
  const items: LabeledImage[] = [];
  counts.forEach((n, label) => {
    for (let i = 0; i < n; i++)
      items.push({ id: `c${label}/${String(i).padStart(3, '0')}.png`, label, image });
  });
  return {
    source: 'image-folder',
    root: '/data',
    labels: counts.map((_, i) => `c${i}`),
    items,
    digest: computeDatasetDigest([]),
  };
}

const ids = (xs: LabeledImage[]) => xs.map((x) => x.id);

describe('splitDataset', () => {
  it('cuts each class in the same proportions (stratified), disjoint and complete', () => {
    const ds = dataset([100, 40, 10]);
    const s = splitDataset(ds, { seed: 1, validation: 0.2, test: 0.1 });
    expect(s.record.classCounts).toEqual({
      train: { c0: 70, c1: 28, c2: 7 },
      validation: { c0: 20, c1: 8, c2: 2 },
      test: { c0: 10, c1: 4, c2: 1 },
    });
    expect(s.record.counts).toEqual({ train: 105, validation: 30, test: 15 });
    const all = [...ids(s.train), ...ids(s.validation), ...ids(s.test)];
    expect(new Set(all).size).toBe(150);
    expect(all.sort()).toEqual(ids(ds.items).sort());
    expect(s.record.seed).toBe(1);
    expect(s.record.fractions).toEqual({ validation: 0.2, test: 0.1 });
    expect(s.record.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('is the same for the same seed whatever the item order, and differs for another seed', () => {
    const ds = dataset([30, 30]);
    const a = splitDataset(ds, { seed: 5, validation: 0.2, test: 0.2 });
    const reversed = { ...ds, items: [...ds.items].reverse() };
    const b = splitDataset(reversed, { seed: 5, validation: 0.2, test: 0.2 });
    expect(ids(b.train)).toEqual(ids(a.train));
    expect(ids(b.test)).toEqual(ids(a.test));
    expect(b.record).toEqual(a.record);
    const c = splitDataset(ds, { seed: 6, validation: 0.2, test: 0.2 });
    expect(ids(c.test)).not.toEqual(ids(a.test));
    expect(c.record.digest).not.toBe(a.record.digest);
  });

  it('mixes the classes in the train part', () => {
    const s = splitDataset(dataset([50, 50]), { seed: 3, validation: 0, test: 0 });
    const firstHalf = s.train.slice(0, 50).map((x) => x.label);
    expect(firstHalf).toContain(0);
    expect(firstHalf).toContain(1);
    expect(s.validation).toEqual([]);
  });

  it('refuses fractions that leave nothing to train on, naming them', () => {
    const ds = dataset([10]);
    for (const bad of [
      { seed: 1, validation: 0.5, test: 0.5 },
      { seed: 1, validation: -0.1, test: 0.1 },
      { seed: 1.5, validation: 0.1, test: 0.1 },
    ]) {
      expect(() => splitDataset(ds, bad)).toThrow(ProjectError);
    }
    expect(() => splitDataset(ds, { seed: 1, validation: 0.5, test: 0.5 })).toThrow(
      'split: seed 1, validation 0.5, test 0.5: need an integer seed and fractions in [0, 1) that sum below 1',
    );
  });

  it("test 'folder': the data's own test items, untouched; validation cut from the rest", () => {
    const ds = dataset([10, 10]);
    ds.splitFolders = ['train', 'test'];
    ds.items.forEach((x, i) => {
      x.subset = i % 5 === 0 ? 'test' : 'train';
    });
    const s = splitDataset(ds, { seed: 3, validation: 0.25, test: 'folder' });
    expect(ids(s.test)).toEqual(ids(ds.items.filter((x) => x.subset === 'test')).sort());
    expect(s.test).toHaveLength(4);
    expect([...s.train, ...s.validation].every((x) => x.subset === 'train')).toBe(true);
    expect(s.record.counts).toEqual({ train: 12, validation: 4, test: 4 });
    expect(s.record.fractions).toEqual({ validation: 0.25, test: 'folder' });
    expect(s.record.classCounts.test).toEqual({ c0: 2, c1: 2 });
  });

  it('refuses "folder" for data without a test set, and a fraction for an image folder that has one', () => {
    const flat = dataset([4, 4]);
    expect(() => splitDataset(flat, { seed: 1, validation: 0.25, test: 'folder' })).toThrow(
      '/data: data.split.test is "folder", but the data has no test set of its own (no train/ and test/ folders)',
    );
    const own = { ...dataset([4, 4]), splitFolders: ['train' as const, 'test' as const] };
    expect(() => splitDataset(own, { seed: 1, validation: 0.25, test: 0.25 })).toThrow(
      'set data.split.test to "folder" to evaluate on test/',
    );
  });
});
