// Regression (issue 23.11): no process-wide budget for request bodies. Stalled
// uploads each held up to SERVING_MAX_BODY_BYTES (48 of 8 MiB took RSS from 342
// to 732 MB). Now the bytes of all bodies being read or held are bounded by
// SERVING_MAX_BODY_BYTES_IN_FLIGHT: past it a request is shed with 503 and
// Retry-After, and what a request reserved is given back however it ends.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;

beforeAll(async () => {
  fixture = await tempFixture();
  s = await startTestServer(fixture, {
    SERVING_MAX_BODY_BYTES: String(200_000),
    SERVING_MAX_BODY_BYTES_IN_FLIGHT: String(400_000),
  });
});
afterAll(async () => {
  await s?.close();
  await fixture?.cleanup();
});

const gauge = async (name: string) => (await s.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;

/** A request whose head and first bytes are sent, and whose socket stays open: a stalled upload. */
function stalled(head: string, first: string): { sock: Socket; answer: Promise<string> } {
  const { port } = new URL(s.url);
  const sock = connect(Number(port), '127.0.0.1', () => sock.write(`${head}\r\n\r\n${first}`));
  const answer = new Promise<string>((resolve) => {
    let text = '';
    sock.on('data', (d) => {
      text += String(d);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(text));
  });
  return { sock, answer };
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('stalled uploads hold at most the body budget; the next one is shed with 503, and the budget comes back', async () => {
  expect(await gauge('serving_body_bytes_capacity')).toBe(400_000);
  const png = (len: number) =>
    `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${len}`;
  // Two stalled uploads of 200,000 declared bytes fill the 400,000 budget.
  const held = [stalled(png(200_000), 'abc'), stalled(png(200_000), 'abc')];
  await until(async () => (await gauge('serving_body_bytes_in_flight')) === 400_000, 'two bodies held');

  // A third declared body does not fit: 503 at once, before its bytes are read, and the
  // connection is closed (its body was never read).
  const third = stalled(`${png(1000)}\r\nConnection: keep-alive`, 'abc');
  const answer = await third.answer;
  expect(answer).toMatch(/^HTTP\/1\.1 503 /);
  expect(answer).toMatch(/\r\nretry-after: 1\r\n/i);
  expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  expect(answer).toContain('bytes of request bodies');
  // A chunked body (no Content-Length) is refused at its first chunk over the budget.
  const chunked = stalled(
    'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked',
    '3\r\nabc\r\n',
  );
  expect(await chunked.answer).toMatch(/^HTTP\/1\.1 503 /);
  // Multipart and JSON bodies draw on the same budget.
  const json = await fetch(`${s.url}/predict`, {
    method: 'POST',
    body: JSON.stringify({ images: [] }),
    headers: { 'content-type': 'application/json' },
  });
  expect(json.status).toBe(503);
  const form = new FormData();
  form.append('image', new Blob([shapePng('circle')], { type: 'image/png' }), 'a.png');
  expect((await fetch(`${s.url}/predict`, { method: 'POST', body: form })).status).toBe(503);

  // The clients go away: their reservations are given back, and a normal request is served.
  for (const h of held) h.sock.destroy();
  await until(async () => (await gauge('serving_body_bytes_in_flight')) === 0, 'the budget given back');
  const ok = await fetch(`${s.url}/predict`, {
    method: 'POST',
    body: shapePng('circle'),
    headers: { 'content-type': 'image/png' },
  });
  expect(ok.status).toBe(200);
  expect(await gauge('serving_body_bytes_in_flight')).toBe(0);
  // The shed requests are load, not the version's errors (the SLO subtracts them).
  expect(await gauge('serving_http_requests_shed_total')).toBe(4);
});

test('SERVING_MAX_BODY_BYTES_IN_FLIGHT under SERVING_MAX_BODY_BYTES is refused at start', async () => {
  await expect(
    startTestServer(fixture, { SERVING_MAX_BODY_BYTES: '2000', SERVING_MAX_BODY_BYTES_IN_FLIGHT: '1000' }),
  ).rejects.toThrow(
    'SERVING_MAX_BODY_BYTES_IN_FLIGHT 1000 is under SERVING_MAX_BODY_BYTES 2000 (one body of the largest size must fit)',
  );
});
