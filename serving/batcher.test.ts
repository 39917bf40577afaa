import { describe, expect, test } from '@jest/globals';
import { Batcher } from './batcher.ts';

function recorder(delayMs = 0) {
  const batches: number[][] = [];
  const batcher = (opts: { maxBatchSize: number; maxWaitMs: number; capacity: number }) =>
    new Batcher<number, number>({
      ...opts,
      run: async (items) => {
        batches.push(items);
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        return items.map((x) => x * 10);
      },
    });
  return { batches, batcher };
}

describe('Batcher', () => {
  test('requests arriving together share one batch, outputs in order', async () => {
    const { batches, batcher } = recorder();
    const b = batcher({ maxBatchSize: 8, maxWaitMs: 20, capacity: 100 });
    const out = await Promise.all([b.submit([1]), b.submit([2, 3]), b.submit([4])]);
    expect(out).toEqual([[10], [20, 30], [40]]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  test('a full batch runs without waiting, and batches never exceed maxBatchSize', async () => {
    const { batches, batcher } = recorder();
    const b = batcher({ maxBatchSize: 3, maxWaitMs: 10_000, capacity: 100 });
    const out = await b.submit([1, 2, 3, 4, 5, 6, 7]);
    expect(out).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(batches.map((x) => x.length)).toEqual([3, 3, 1]);
  });

  test('maxBatchSize 1 runs every image alone', async () => {
    const { batches, batcher } = recorder();
    const b = batcher({ maxBatchSize: 1, maxWaitMs: 5, capacity: 100 });
    await Promise.all([b.submit([1]), b.submit([2])]);
    expect(batches).toEqual([[1], [2]]);
  });

  test('a request that does not fit in the queue is refused as OVERLOADED, all or nothing', async () => {
    const { batcher } = recorder(30);
    const b = batcher({ maxBatchSize: 8, maxWaitMs: 10, capacity: 4 });
    const first = b.submit([1, 2, 3, 4]);
    await expect(b.submit([5])).rejects.toMatchObject({ code: 'OVERLOADED' });
    expect(b.depth).toBe(4);
    await expect(first).resolves.toEqual([10, 20, 30, 40]);
  });

  test('a failing batch rejects only its own requests', async () => {
    let calls = 0;
    const b = new Batcher<number, number>({
      maxBatchSize: 1,
      maxWaitMs: 0,
      capacity: 10,
      run: async (items) => {
        calls++;
        if (items[0] === 2) throw new Error('boom');
        return items;
      },
    });
    const results = await Promise.allSettled([b.submit([1]), b.submit([2]), b.submit([3])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(calls).toBe(3);
  });

  test('close() finishes queued work, then refuses new work', async () => {
    const { batcher } = recorder(5);
    const b = batcher({ maxBatchSize: 2, maxWaitMs: 1, capacity: 10 });
    const pending = b.submit([1, 2, 3]);
    await b.close();
    await expect(pending).resolves.toEqual([10, 20, 30]);
    await expect(b.submit([4])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  test('reports depth and batch sizes', async () => {
    const depths: number[] = [];
    const sizes: number[] = [];
    const b = new Batcher<number, number>({
      maxBatchSize: 2,
      maxWaitMs: 1,
      capacity: 10,
      run: async (x) => x,
      onDepth: (d) => depths.push(d),
      onBatch: (n) => sizes.push(n),
    });
    await b.submit([1, 2, 3]);
    expect(sizes).toEqual([2, 1]);
    expect(depths[0]).toBe(3);
    expect(depths.at(-1)).toBe(0);
  });
});

describe('Batcher scheduling', () => {
  test('eager (default): a lone request starts at once instead of waiting maxWaitMs', async () => {
    const { batches, batcher } = recorder();
    // A minute of maxWaitMs would time this test out if the request waited for it.
    const b = batcher({ maxBatchSize: 8, maxWaitMs: 60_000, capacity: 100 });
    await expect(b.submit([7])).resolves.toEqual([70]);
    expect(batches).toEqual([[7]]);
  });

  test('while a batch runs, arrivals gather into the next batch up to maxBatchSize', async () => {
    let release: () => void = () => {};
    const batches: number[][] = [];
    const b = new Batcher<number, number>({
      maxBatchSize: 3,
      maxWaitMs: 60_000,
      capacity: 100,
      run: async (items) => {
        batches.push(items);
        if (batches.length === 1) await new Promise<void>((r) => (release = r));
        return items;
      },
    });
    const first = b.submit([1]);
    await new Promise((r) => setImmediate(r));
    const rest = [b.submit([2]), b.submit([3]), b.submit([4]), b.submit([5])];
    release();
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  test('concurrency 2 keeps two batches in flight, never more', async () => {
    let inFlight = 0;
    let most = 0;
    const b = new Batcher<number, number>({
      maxBatchSize: 2,
      maxWaitMs: 0,
      capacity: 100,
      concurrency: 2,
      run: async (items) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return items;
      },
    });
    await expect(b.submit([1, 2, 3, 4, 5, 6, 7, 8])).resolves.toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(most).toBe(2);
  });
});
