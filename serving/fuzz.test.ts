/**
 * A bounded mutation fuzz run (fast-check, fixed seed, so CI runs the same
 * inputs every time): valid raw PNG/JPEG, multipart, JSON and v2 bodies are
 * mutated (bit flips, cuts, inserted bytes, repeated slices, a wrong
 * Content-Type) and sent to the real app on a loopback port. Every answer
 * must be 200 (a mutation that is still a valid request) or a JSON error
 * with a 4xx/503 status, never a 500; the server keeps answering, and no
 * tfjs tensor or decoded-pixel reservation is left behind.
 *
 * @see https://fast-check.dev/docs/configuration/custom-reports/ seed and path for replaying a failure
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import sharp from 'sharp';
import { shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';

const SEED = 20261129;
const RUNS = 250;

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;

beforeAll(async () => {
  fixture = await tempFixture();
  s = await startTestServer(fixture, {
    SERVING_MAX_PIXELS: String(512 * 512),
    SERVING_MAX_BODY_BYTES: '300000',
  });
});
afterAll(async () => {
  await s?.close();
  await fixture?.cleanup();
});

interface Seed {
  name: string;
  path: string;
  type: string;
  body: Uint8Array;
}

async function seeds(): Promise<Seed[]> {
  const png = shapePng('cross');
  const jpeg = new Uint8Array(
    await sharp(Buffer.from(png)).jpeg({ quality: 80, progressive: true }).toBuffer(),
  );
  const boundary = 'fuzzBoundary';
  const part = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`,
    ),
    png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const b64 = Buffer.from(png).toString('base64');
  const v2 = JSON.stringify({
    inputs: [{ name: 'input', shape: [1, 16, 16, 1], datatype: 'FP32', data: new Array(256).fill(0.5) }],
  });
  return [
    { name: 'raw png', path: '/predict', type: 'image/png', body: png },
    { name: 'raw jpeg', path: '/predict', type: 'image/jpeg', body: jpeg },
    {
      name: 'multipart',
      path: '/predict',
      type: `multipart/form-data; boundary=${boundary}`,
      body: new Uint8Array(part),
    },
    {
      name: 'json',
      path: '/predict',
      type: 'application/json',
      body: new TextEncoder().encode(JSON.stringify({ images: [b64, b64] })),
    },
    {
      name: 'v2',
      path: '/v2/models/demo-classifier/infer',
      type: 'application/json',
      body: new TextEncoder().encode(v2),
    },
  ];
}

/** One mutation of a byte string. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    op: fc.constant('repeat' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 64 }),
    times: fc.integer({ min: 2, max: 200 }),
  }),
  fc.record({
    op: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.constantFrom(0x00, 0xff, 0x7f, 0x80),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(body: Uint8Array, ms: Mutation[]): Uint8Array<ArrayBuffer> {
  let b = Buffer.from(body);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.op === 'flip' && b.length) b[at] = b[at]! ^ (1 << m.bit);
    else if (m.op === 'set' && b.length) b[at] = m.value;
    else if (m.op === 'cut') b = b.subarray(0, at);
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.op === 'repeat') {
      const slice = b.subarray(at, at + m.length);
      b = Buffer.concat([b.subarray(0, at), ...new Array(m.times).fill(slice), b.subarray(at)]);
    }
  }
  return new Uint8Array(b);
}

test(`fuzz: ${RUNS} mutated bodies (seed ${SEED}) never give a 500 or a non-JSON error`, async () => {
  const all = await seeds();
  const tensorsBefore = tf.memory().numTensors;
  const workerBefore = await s.model.numTensors();
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...all),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.nat(9),
      async (seed, ms, typeDie) => {
        const wrongType = typeDie === 0; // one in ten
        const body = mutate(seed.body, ms);
        const res = await fetch(`${s.url}${seed.path}`, {
          method: 'POST',
          body,
          headers: { 'content-type': wrongType ? 'application/octet-stream' : seed.type },
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect([200, 400, 413, 415, 503]).toContain(res.status);
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        const json = JSON.parse(text) as { error?: string };
        if (res.status !== 200) expect(typeof json.error).toBe('string');
      },
    ),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  console.log(`fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  // More than one outcome: the mutations reach past the first check.
  expect(statuses.size).toBeGreaterThan(1);
  expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  expect(s.app.serving.budget.inUse).toBe(0);
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  expect(await s.model.numTensors()).toBe(workerBefore);
});
