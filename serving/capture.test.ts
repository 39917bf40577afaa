/**
 * Payload capture is bounded (serving/capture.ts): with a store that never
 * answers (a real loopback socket that takes requests and says nothing) or
 * one that is not there, offering records never waits, the queue never holds
 * more than its byte and record limits, and every record not written is
 * counted by reason. The real client (platform/object-store), no fake.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { createObjectStore } from '../platform/object-store/index.ts';
import { freePort } from '../testing/ports.ts';
import { memoryLogger } from '../testing/serving/logger.ts';
import { type StalledServer, stalledServer } from '../testing/stalled-server.ts';
import { Capture, type CaptureEntry } from './capture.ts';
import { createMetrics } from './metrics.ts';

let stalled: StalledServer;
let stalledUrl = '';
beforeAll(async () => {
  stalled = await stalledServer();
  stalledUrl = stalled.url;
});
afterAll(() => stalled.close());

function entry(n: number, imageBytes: number): CaptureEntry {
  return {
    record: {
      schema: 'capture/v1',
      answer_id: `a${n}`,
      request_id: `r${n}`,
      at: new Date(0).toISOString(),
      model: 'm',
      version: '1',
      pod: 'p',
      latency_ms: 1,
      images: [
        { sha256: String(n).padStart(64, '0'), bytes: imageBytes, content_type: 'image/png', stored: true },
      ],
      predictions: [[{ label: 'circle', probability: 1 }]],
    },
    images: [new Uint8Array(imageBytes).fill(n)],
  };
}

function capture(endpoint: string, limits: { maxQueueBytes: number; maxQueueRecords: number }) {
  const registry = new Registry();
  const metrics = createMetrics(registry, { defaultMetrics: false });
  const store = createObjectStore(
    {
      endpoint,
      region: 'us-east-1',
      bucket: 'capture-test',
      forcePathStyle: true,
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret-0123456789' },
    },
    { timeoutMs: 300, maxAttempts: 1 },
  );
  const logger = memoryLogger();
  const c = new Capture({
    config: { sample: 1, maxImageBytes: 1 << 20, batchRecords: 4, flushMs: 60_000, ...limits },
    store,
    bucket: 'capture-test',
    pod: 'p',
    metrics,
    logger,
  });
  const dropped = async () =>
    Object.fromEntries(
      (await registry.getSingleMetric('serving_capture_dropped_total')!.get()).values.map((v) => [
        v.labels.reason,
        v.value,
      ]),
    );
  return { c, store, dropped, logger, registry };
}

describe('payload capture with a store that does not answer', () => {
  it('holds at most its byte budget, drops the rest with a count, and a shutdown drops what was not written', async () => {
    const { c, store, dropped, registry } = capture(stalledUrl, {
      maxQueueBytes: 20_000,
      maxQueueRecords: 1000,
    });
    let most = 0;
    for (let n = 0; n < 50; n++) {
      // offer() returns nothing to await: /predict never waits for the store.
      expect(c.offer(entry(n, 1000))).toBeUndefined();
      most = Math.max(most, c.queued.bytes);
    }
    expect(most).toBeLessThanOrEqual(20_000);
    const held = c.queued.records;
    expect(held).toBeGreaterThan(10);
    expect(held).toBeLessThan(20);
    expect(await dropped()).toEqual({ queue_full: 50 - held, store_error: 0, shutdown: 0 });
    const gauge = (await registry.getSingleMetric('serving_capture_queue_bytes')!.get()).values[0]!.value;
    expect(gauge).toBe(c.queued.bytes);
    // The shutdown waits 200 ms, not for the store: what is still queued is dropped and counted.
    await c.close(200);
    expect(c.queued).toEqual({ records: 0, bytes: 0 });
    expect((await dropped()).shutdown).toBe(held);
    c.offer(entry(99, 10));
    expect((await dropped()).shutdown).toBe(held + 1);
    store.close();
  });

  it('a store that is not there: each batch fails, is dropped and counted as store_error, and the queue empties', async () => {
    const { c, store, dropped, logger } = capture(`http://127.0.0.1:${await freePort()}`, {
      maxQueueBytes: 1 << 20,
      maxQueueRecords: 6,
    });
    for (let n = 0; n < 10; n++) c.offer(entry(n, 100));
    expect(c.queued.records).toBe(6);
    await c.flush();
    expect(c.queued).toEqual({ records: 0, bytes: 0 });
    expect(await dropped()).toEqual({ queue_full: 4, store_error: 6, shutdown: 0 });
    // One warning, naming the endpoint, never the secret.
    const warnings = logger.lines.filter((l) => l.msg === 'capture: a batch was not written and is dropped');
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(logger.lines)).not.toContain('secret-0123456789');
    await c.close(100);
    store.close();
  });
});
