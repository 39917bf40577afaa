/**
 * Every kind of bad request answers a JSON error naming the problem, with
 * the right status; none crashes the server or leaks a tensor, and the next
 * valid request succeeds.
 */
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { encodePng } from '../model/preprocessing.ts';
import { shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;
let tensorsBefore: number;
let workerTensorsBefore: number;

beforeAll(async () => {
  fixture = await tempFixture();
  // Small limits so "huge" and "oversize" stay cheap.
  s = await startTestServer(fixture, {
    SERVING_MAX_PIXELS: String(256 * 256),
    SERVING_MAX_BODY_BYTES: String(200_000),
  });
  tensorsBefore = tf.memory().numTensors;
  workerTensorsBefore = await s.model.numTensors();
});
afterAll(async () => {
  await s?.close();
  await fixture?.cleanup();
});

const png = shapePng('square');

afterEach(async () => {
  // The next valid request succeeds, and no tensor was left behind.
  const ok = await fetch(`${s.url}/predict`, {
    method: 'POST',
    body: png,
    headers: { 'content-type': 'image/png' },
  });
  expect(ok.status).toBe(200);
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  expect(await s.model.numTensors()).toBe(workerTensorsBefore); // inference runs in the worker thread
});

async function send(path: string, body: BodyInit | undefined, type?: string, method = 'POST') {
  const res = await fetch(`${s.url}${path}`, {
    method,
    ...(body !== undefined ? { body } : {}),
    headers: type ? { 'content-type': type } : {},
  });
  return { status: res.status, json: (await res.json()) as { error: string; code?: string } };
}

test('not an image → 400 naming the format', async () => {
  const r = await send('/predict', 'hello, I am text', 'image/png');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/^request body: not an image \(unsupported format/);
  expect(r.json.code).toBe('INVALID');
});

test('truncated PNG → 400 truncated', async () => {
  const r = await send('/predict', png.subarray(0, Math.floor(png.length / 2)), 'image/png');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/request body: truncated or corrupt PNG/);
});

test('PNG cut inside its header → 400 truncated', async () => {
  const r = await send('/predict', png.subarray(0, 20), 'image/png');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/truncated PNG \(no complete IHDR header\)/);
});

test('zero-byte body → 400 empty', async () => {
  const r = await send('/predict', new Uint8Array(0), 'image/png');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/request body: empty file \(0 bytes\)/);
});

test('huge image over the pixel limit → 413 naming the size', async () => {
  const big = new Uint8Array(
    encodePng({ width: 300, height: 300, channels: 1, data: new Uint8Array(300 * 300) }, { deflateLevel: 9 }),
  );
  const r = await send('/predict', big, 'image/png');
  expect(r.status).toBe(413);
  expect(r.json.error).toMatch(/image is 300x300 = 90000 pixels, over the limit of 65536/);
});

test('oversize body over the byte limit → 413', async () => {
  const r = await send('/predict', new Uint8Array(300_000), 'image/png');
  expect(r.status).toBe(413);
  expect(r.json.error).toMatch(/request body is over the limit of 200000 bytes/);
});

test('oversize multipart file → 413', async () => {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(250_000)], { type: 'image/png' }), 'big.png');
  const r = await send('/predict', form);
  expect(r.status).toBe(413);
});

test('multipart without an "image" field → 400', async () => {
  const form = new FormData();
  form.append('picture', new Blob([png], { type: 'image/png' }), 'x.png');
  const r = await send('/predict', form);
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/no file field "image"/);
});

test('wrong content type → 415 listing what is accepted', async () => {
  const r = await send('/predict', 'x', 'text/plain');
  expect(r.status).toBe(415);
  expect(r.json.error).toMatch(/Content-Type text\/plain is not accepted/);
  expect(r.json.error).toMatch(/multipart\/form-data/);
});

test('invalid JSON → 400', async () => {
  const r = await send('/predict', '{"images": [', 'application/json');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/request body is not valid JSON/);
});

test('JSON with a wrong field → 400 naming the field', async () => {
  const r = await send('/predict', JSON.stringify({ imgs: [] }), 'application/json');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/missing required field "images"/);
  expect(r.json.error).toMatch(/unknown field "imgs"/);
});

test('JSON image that is not base64 → 400 naming the index', async () => {
  const good = Buffer.from(png).toString('base64');
  const r = await send('/predict', JSON.stringify({ images: [good, '***'] }), 'application/json');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/images\[1\] is not base64/);
});

test('one bad image in a list refuses the whole request, naming it', async () => {
  const good = Buffer.from(png).toString('base64');
  const bad = Buffer.from('not an image').toString('base64');
  const r = await send('/predict', JSON.stringify({ images: [good, bad] }), 'application/json');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/^images\[1\]: not an image/);
});

test.each(['0', '5', 'abc', '-1', '1.5'])('k=%s out of range → 400', async (k) => {
  const r = await send(`/predict?k=${k}`, png, 'image/png');
  expect(r.status).toBe(400);
  expect(r.json.error).toContain(`query parameter k=${k} must be an integer from 1 to 4`);
});

const tensor = (shape: number[], data: unknown[], datatype = 'FP32') =>
  JSON.stringify({ inputs: [{ name: 'input', shape, datatype, data }] });

test('v2: wrong tensor shape → 400 {"error"} naming the shape', async () => {
  const r = await send(
    '/v2/models/demo-classifier/infer',
    tensor([1, 8, 8, 1], new Array(64).fill(0)),
    'application/json',
  );
  expect(r.status).toBe(400);
  expect(r.json).toEqual({
    error: 'input "input" has shape [1,8,8,1]; the model takes [N,16,16,1] with N >= 1',
  });
});

test('v2: data length that does not match the shape → 400', async () => {
  const r = await send(
    '/v2/models/demo-classifier/infer',
    tensor([1, 16, 16, 1], [1, 2, 3]),
    'application/json',
  );
  expect(r.status).toBe(400);
  expect(r.json.error).toBe('input "input" has 3 data elements, but its shape needs 256');
});

test('v2: NaN in the data → 400 (as a string and as a bare literal)', async () => {
  const data: unknown[] = new Array(256).fill(0);
  data[7] = 'NaN';
  const r = await send('/v2/models/demo-classifier/infer', tensor([1, 16, 16, 1], data), 'application/json');
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/data\[7\] is "NaN", not a finite number/);
  const literal = tensor([1, 16, 16, 1], new Array(256).fill(0)).replace('[0,', '[NaN,');
  const r2 = await send('/v2/models/demo-classifier/infer', literal, 'application/json');
  expect(r2.status).toBe(400);
  expect(r2.json.error).toMatch(/request body is not valid JSON/);
});

test('v2: wrong datatype and a request that breaks the protocol schema → 400', async () => {
  const r = await send(
    '/v2/models/demo-classifier/infer',
    tensor([1, 16, 16, 1], [], 'INT8'),
    'application/json',
  );
  expect(r.status).toBe(400);
  expect(r.json.error).toMatch(/datatype INT8; the model takes FP32/);
  const r2 = await send(
    '/v2/models/demo-classifier/infer',
    JSON.stringify({ inputs: [{ name: 'input' }] }),
    'application/json',
  );
  expect(r2.status).toBe(400);
  expect(r2.json.error).toMatch(/\/inputs\/0: missing required field "shape"/);
  expect(r2.json.error).toMatch(/missing required field "datatype"/);
});

test('v2: unknown model name → 404 {"error"}', async () => {
  const r = await send(
    '/v2/models/other-model/infer',
    tensor([1, 16, 16, 1], new Array(256).fill(0)),
    'application/json',
  );
  expect(r.status).toBe(404);
  expect(r.json).toEqual({
    error: 'model "other-model" is not served here; this server serves "demo-classifier"',
  });
  expect((await send('/v2/models/other-model', undefined, undefined, 'GET')).status).toBe(404);
  expect((await send('/v2/models/demo-classifier/versions/9', undefined, undefined, 'GET')).status).toBe(404);
});

test('unknown route → 404 JSON', async () => {
  const r = await send('/nope', undefined, undefined, 'GET');
  expect(r.status).toBe(404);
  expect(r.json.error).toMatch(/no route GET \/nope/);
});

/** Bytes straight onto a socket: what fetch() cannot send (truncated or aborted bodies). */
function rawRequest(head: string, body: string, opts: { abortAfterMs?: number } = {}): Promise<string> {
  const { port } = new URL(s.url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), '127.0.0.1', () => {
      sock.write(`${head}\r\n\r\n${body}`);
      if (opts.abortAfterMs !== undefined) setTimeout(() => sock.destroy(), opts.abortAfterMs);
    });
    let answer = '';
    sock.on('data', (d) => {
      answer += String(d);
      if (answer.includes('\r\n\r\n') && /"request_id"|"error"/.test(answer)) sock.end();
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(answer));
  });
}

const inFlight = async () =>
  (await s.registry.getSingleMetric('serving_http_requests_in_flight')!.get()).values[0]!.value;

test('regression: a 72-byte truncated multipart body killed the process (busboy file stream error)', async () => {
  const body = '--X\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\na';
  expect(Buffer.byteLength(body)).toBe(72);
  const answer = await rawRequest(
    `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=X\r\nContent-Length: ${body.length}\r\nConnection: close`,
    body,
  );
  expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  expect(answer).toContain('multipart/form-data body cannot be parsed: Unexpected end of multipart data');
  expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
});

test('regression: an aborted multipart upload never decremented serving_http_requests_in_flight', async () => {
  const before = await inFlight();
  const part = '--X\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n0123456789';
  await rawRequest(
    'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=X\r\nContent-Length: 100000',
    part,
    { abortAfterMs: 50 },
  );
  const deadline = Date.now() + 5000;
  while ((await inFlight()) !== before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(await inFlight()).toBe(before);
});

test('an aborted raw image upload leaves serving_http_requests_in_flight where it was', async () => {
  const before = await inFlight();
  await rawRequest(
    'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000',
    'abc',
    { abortAfterMs: 50 },
  );
  const deadline = Date.now() + 5000;
  while ((await inFlight()) !== before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(await inFlight()).toBe(before);
});
