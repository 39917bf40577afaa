import { describe, expect, it } from '@jest/globals';
import { chunkLogBatch, LOG_BATCH_LIMITS } from './batch.ts';

const metrics = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ key: 'loss', value: i, timestamp: 1, step: i }));
const kv = (n: number, p: string) =>
  Array.from({ length: n }, (_, i) => ({ key: `${p}${i}`, value: String(i) }));

describe('chunkLogBatch', () => {
  it('gives no request for an empty batch', () => {
    expect(chunkLogBatch({})).toEqual([]);
  });

  it('keeps every request within the server limits and loses nothing, in order', () => {
    const batch = { metrics: metrics(2500), params: kv(250, 'p'), tags: kv(130, 't') };
    const chunks = chunkLogBatch(batch);
    for (const c of chunks) {
      expect(c.metrics.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.metrics);
      expect(c.params.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.params);
      expect(c.tags.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.tags);
      expect(c.metrics.length + c.params.length + c.tags.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.total);
    }
    expect(chunks.flatMap((c) => c.metrics)).toEqual(batch.metrics);
    expect(chunks.flatMap((c) => c.params)).toEqual(batch.params);
    expect(chunks.flatMap((c) => c.tags)).toEqual(batch.tags);
    // params and tags go out first: the first request carries 100 params, 100 tags, 800 metrics
    expect(chunks[0]?.params).toHaveLength(100);
    expect(chunks[0]?.tags).toHaveLength(100);
    expect(chunks[0]?.metrics).toHaveLength(800);
    expect(chunks).toHaveLength(3); // 2880 entries, 1000 at most per request
  });
});
