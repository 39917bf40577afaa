import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { freePort } from '../../testing/ports.ts';
import { ProjectError } from '../errors.ts';
import { MlflowHttp } from './http.ts';
import { backoffDelayMs } from './retry.ts';

const TOKEN = 'secret-token-0123456789';
let server: Server | undefined;

/** A loopback server speaking MLflow's error format, answering with `handler`. */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<string> {
  let n = 0;
  server = createServer((req, res) => handler(req, res, n++));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

const sleeps: number[] = [];
const client = (baseUrl: string, extra: Partial<ConstructorParameters<typeof MlflowHttp>[0]> = {}) => {
  sleeps.length = 0;
  return new MlflowHttp({
    baseUrl,
    auth: { kind: 'bearer', token: TOKEN },
    retry: { maxRetries: 3, initialDelayMs: 8, maxDelayMs: 20 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });
};

async function caught(p: Promise<unknown>): Promise<ProjectError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProjectError);
    return e as ProjectError;
  }
  throw new Error('expected a rejection');
}

describe('backoffDelayMs', () => {
  it('doubles up to the cap, with jitter in the upper half', () => {
    const p = { maxRetries: 5, initialDelayMs: 100, maxDelayMs: 1000 };
    expect([0, 1, 2, 3, 4].map((i) => backoffDelayMs(p, i, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([0, 1, 2, 3, 4].map((i) => backoffDelayMs(p, i, () => 1))).toEqual([100, 200, 400, 800, 1000]);
  });
});

describe('MlflowHttp', () => {
  it('retries 503 and 429 with backoff, then returns the answer, sending the bearer token', async () => {
    const auths: (string | undefined)[] = [];
    const url = await serve((req, res, n) => {
      auths.push(req.headers.authorization);
      if (n === 0) res.writeHead(503).end('busy');
      else if (n === 1)
        res.writeHead(429).end('{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"experiment_id":"7"}');
    });
    const retries: string[] = [];
    const http = client(url, { onRetry: (r) => retries.push(r.reason) });
    await expect(
      http.request({ method: 'POST', path: '/api/2.0/mlflow/experiments/create', json: {} }),
    ).resolves.toEqual({ experiment_id: '7' });
    expect(sleeps).toEqual([6, 12]);
    expect(retries).toEqual(['HTTP 503: busy', 'HTTP 429 REQUEST_LIMIT_EXCEEDED: slow down']);
    expect(auths).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('gives up on a failing server with UNAVAILABLE naming the URL, never the token it echoes', async () => {
    const url = await serve((req, res) => {
      res
        .writeHead(500)
        .end(`{"error_code":"INTERNAL_ERROR","message":"boom, you sent ${req.headers.authorization}"}`);
    });
    const retries: string[] = [];
    const e = await caught(
      client(url, { onRetry: (r) => retries.push(r.reason) }).request({
        method: 'GET',
        path: '/api/2.0/mlflow/runs/get',
      }),
    );
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain(
      `GET ${url}/api/2.0/mlflow/runs/get failed after 4 attempts: HTTP 500 INTERNAL_ERROR`,
    );
    expect(e.message).toContain('Bearer ***');
    expect(e.message).toContain(`check that the MLflow server at ${url} is up`);
    expect(sleeps).toHaveLength(3);
    const everything = JSON.stringify({ m: e.message, s: e.stack, d: e.details, h: e.hint, retries });
    expect(everything).not.toContain(TOKEN);
  });

  it('does not retry a 401 and says which credentials to check, without the password', async () => {
    const url = await serve((req, res) => res.writeHead(401).end(`denied for ${req.headers.authorization}`));
    const http = client(url, { auth: { kind: 'basic', username: 'alice', password: 'hunter2-pass' } });
    const e = await caught(http.request({ method: 'GET', path: '/api/2.0/mlflow/experiments/get-by-name' }));
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/HTTP 401: denied for Basic \*\*\*/);
    expect(e.message).toContain('MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD');
    expect(e.message).not.toContain('hunter2-pass');
    expect(e.message).not.toContain(Buffer.from('alice:hunter2-pass').toString('base64'));
    expect(sleeps).toEqual([]);
  });

  it('maps MLflow error codes: RESOURCE_DOES_NOT_EXIST to NOT_FOUND, RESOURCE_ALREADY_EXISTS to CONFLICT', async () => {
    const url = await serve((req, res) => {
      if (req.url?.includes('missing'))
        res.writeHead(404).end('{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no"}');
      else res.writeHead(400).end('{"error_code":"RESOURCE_ALREADY_EXISTS","message":"dup"}');
    });
    const http = client(url);
    expect((await caught(http.request({ method: 'GET', path: '/missing' }))).code).toBe('NOT_FOUND');
    expect((await caught(http.request({ method: 'POST', path: '/create', json: {} }))).code).toBe('CONFLICT');
    expect(sleeps).toEqual([]);
  });

  it('retries a port with nothing listening, then fails naming the URL', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const e = await caught(client(url).request({ method: 'GET', path: '/health' }));
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain(`GET ${url}/health failed after 4 attempts: fetch failed (ECONNREFUSED)`);
    expect(e.message).not.toContain(TOKEN);
    // The last attempt's network error is kept as the cause.
    expect((e.cause as Error).message).toBe('fetch failed');
    expect(((e.cause as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('redacts the token from text a server sends back', () => {
    expect(client('http://127.0.0.1:1').redact(`x ${TOKEN} y ${TOKEN}`)).toBe('x *** y ***');
  });
});
