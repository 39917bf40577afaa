/**
 * Graceful shutdown of the real process: serving/main.ts is spawned with tsx;
 * SIGTERM arrives while a request is in flight; readiness goes false, the
 * in-flight request still gets its answer, new connections are refused, and
 * the process exits 0.
 */
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { freePort } from '../testing/ports.ts';
import { shapePng } from '../testing/serving/fixture.ts';
import { tempFixture } from '../testing/serving/harness.ts';
import { spawnServer } from '../testing/serving/process.ts';

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let child: ChildProcess | undefined;

beforeAll(async () => {
  fixture = await tempFixture();
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await fixture?.cleanup();
});

test('SIGTERM: readiness false first, in-flight request finishes, then exit 0', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // A long batching window keeps the request in flight when SIGTERM arrives.
  const server = spawnServer({
    ...fixture.env,
    SERVING_BACKEND: 'cpu',
    SERVING_HOST: '127.0.0.1',
    SERVING_PORT: String(port),
    SERVING_MAX_WAIT_MS: '1000',
    SERVING_SHUTDOWN_TIMEOUT_MS: '10000',
  });
  child = server.proc;
  await server.ready;
  expect((await fetch(`${base}/readyz`)).status).toBe(200);

  // Hold a keep-alive connection so readiness can be asked during shutdown.
  const agentReq = (path: string, body?: Uint8Array) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${base}${path}`,
        { method: body ? 'POST' : 'GET', headers: body ? { 'content-type': 'image/png' } : {} },
        (res) => {
          let data = '';
          res.on('data', (c) => {
            data += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const inFlight = agentReq('/predict', shapePng('circle'));
  await new Promise((r) => setTimeout(r, 200));
  server.proc.kill('SIGTERM');
  const answer = await inFlight;
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body)).toMatchObject({ model: 'demo-classifier', version: fixture.pin.version });
  expect(await server.exited).toBe(0);
  const msgs = server.lines.map((l) => l.msg);
  expect(msgs).toEqual(
    expect.arrayContaining([
      'signal received',
      'shutting down: readiness false, no new connections, finishing in-flight requests',
      'shutdown complete',
    ]),
  );
  expect(
    msgs.indexOf('shutting down: readiness false, no new connections, finishing in-flight requests'),
  ).toBeLessThan(msgs.indexOf('shutdown complete'));
  await expect(fetch(`${base}/healthz`)).rejects.toThrow();
});

test('bad configuration keeps the process from ever listening: exit 2 naming the variable', async () => {
  const server = spawnServer({ ...fixture.env, SERVING_BACKEND: 'bogus', SERVING_HOST: '127.0.0.1' });
  child = server.proc;
  server.ready.catch(() => undefined);
  expect(await server.exited).toBe(2);
  const failure = server.lines.find((l) => l.msg === 'start-up failed');
  expect(failure?.code).toBe('USAGE');
  expect(String(failure?.error)).toMatch(/\/SERVING_BACKEND/);
  expect(server.lines.some((l) => l.msg === 'ready')).toBe(false);
});

test('a digest mismatch keeps the process from ever listening: exit 1 naming the file', async () => {
  const port = await freePort();
  const server = spawnServer({
    ...fixture.env,
    SERVING_BACKEND: 'cpu',
    SERVING_HOST: '127.0.0.1',
    SERVING_PORT: String(port),
    SERVING_MODEL_DIGESTS: JSON.stringify({ ...fixture.pin.digests, 'labels.json': '0'.repeat(64) }),
    SERVING_MODEL_SHA256: '',
  });
  child = server.proc;
  server.ready.catch(() => undefined);
  expect(await server.exited).toBe(1);
  const failure = server.lines.find((l) => l.msg === 'start-up failed');
  expect(failure?.code).toBe('DIGEST_MISMATCH');
  expect(String(failure?.error)).toMatch(/artifact file "labels\.json"/);
  expect(server.lines.some((l) => l.msg === 'ready')).toBe(false);
});
