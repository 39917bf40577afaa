import { describe, expect, test } from '@jest/globals';
import { batchName, planBatches, shardBatches } from './plan.ts';

const keys = (n: number) => Array.from({ length: n }, (_, i) => `img/${String(i).padStart(4, '0')}.png`);

describe('scoring plan: batches, then contiguous shards', () => {
  test('keys are sorted and de-duplicated before batching; a batch is named by its keys', () => {
    const shuffled = [...keys(7)].reverse().concat(['img/0003.png']);
    const batches = planBatches(shuffled, 3);
    expect(batches.map((b) => b.keys)).toEqual([keys(7).slice(0, 3), keys(7).slice(3, 6), keys(7).slice(6)]);
    expect(batches[0]?.name).toBe(batchName(keys(3)));
    expect(batches[0]?.name).toMatch(/^score-[0-9a-f]{20}$/);
    // Another key set, another name: an output object never stands for other images.
    expect(batchName(['a.png'])).not.toBe(batchName(['b.png']));
  });

  test.each([1, 2, 3, 4, 7, 10, 11])(
    '%i shards cover every batch exactly once, in order, sizes within one',
    (n) => {
      const batches = planBatches(keys(25), 3); // 9 batches
      const shards = Array.from({ length: n }, (_, index) => shardBatches(batches, { index, count: n }));
      expect(shards.flat()).toEqual(batches);
      const sizes = shards.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    },
  );

  test('a batch name does not depend on the number of shards (a Job resumes a local run)', () => {
    const batches = planBatches(keys(20), 4);
    const names = (n: number) =>
      Array.from({ length: n }, (_, index) =>
        shardBatches(batches, { index, count: n }).map((b) => b.name),
      ).flat();
    expect(names(1)).toEqual(names(3));
  });

  test('a shard index out of range, and a batch size below 1, are USAGE errors naming them', () => {
    expect(() => shardBatches([1, 2], { index: 2, count: 2 })).toThrow(/shard 2 of 2 is not a shard/);
    expect(() => shardBatches([1, 2], { index: 0, count: 0 })).toThrow(/shard 0 of 0/);
    expect(() => planBatches(keys(2), 0)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
