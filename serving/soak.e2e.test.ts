/**
 * Soak: ~2000 requests of every kind (raw, multipart, JSON batch, v2 infer,
 * bad input) through a loopback server; the tfjs tensor count of the
 * inference worker thread (asked by message) and of the main thread must come
 * back to where they were, so no code path leaks tensors.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;
beforeAll(async () => {
  fixture = await tempFixture();
  s = await startTestServer(fixture);
});
afterAll(async () => {
  await s?.close();
  await fixture?.cleanup();
});

test("2000 mixed requests leave the worker's and the main thread's tensor counts where they were", async () => {
  const png = shapePng('triangle');
  const b64 = Buffer.from(png).toString('base64');
  const tensor = JSON.stringify({
    inputs: [{ name: 'input', shape: [2, 16, 16, 1], datatype: 'FP32', data: new Array(512).fill(0.25) }],
  });
  const kinds: (() => Promise<Response>)[] = [
    () => fetch(`${s.url}/predict`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } }),
    () => {
      const form = new FormData();
      form.append('image', new Blob([png], { type: 'image/png' }), 'x.png');
      return fetch(`${s.url}/predict`, { method: 'POST', body: form });
    },
    () =>
      fetch(`${s.url}/predict`, {
        method: 'POST',
        body: JSON.stringify({ images: [b64, b64, b64] }),
        headers: { 'content-type': 'application/json' },
      }),
    () =>
      fetch(`${s.url}/v2/models/demo-classifier/infer`, {
        method: 'POST',
        body: tensor,
        headers: { 'content-type': 'application/json' },
      }),
    () =>
      fetch(`${s.url}/predict`, {
        method: 'POST',
        body: png.subarray(0, 40),
        headers: { 'content-type': 'image/png' },
      }),
  ];
  expect(s.model.runner).toBe('worker');
  const before = await s.model.numTensors();
  const mainBefore = tf.memory().numTensors;
  const total = 2000;
  const concurrency = 16;
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const res = await kinds[i % kinds.length]!();
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  await s.app.serving.batcher.idle();
  expect(Object.fromEntries(statuses)).toEqual({ 200: 1600, 400: 400 });
  expect(await s.model.numTensors()).toBe(before);
  expect(tf.memory().numTensors).toBe(mainBefore);
  const metrics = await s.registry.getSingleMetricAsString('serving_predictions_total');
  const counted = [...metrics.matchAll(/^serving_predictions_total\{.*\} (\d+)$/gm)].reduce(
    (a, m) => a + Number(m[1]),
    0,
  );
  // raw 1 + multipart 1 + JSON 3 + v2 2 images, 400 times each
  expect(counted).toBe(400 * 7);
});
