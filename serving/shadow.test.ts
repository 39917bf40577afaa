/**
 * Shadow traffic (serving/shadow.ts) between two real servers in-process: a
 * champion with SERVING_SHADOW_URL and its challenger (another model
 * version), each on a loopback port, no object store (the pairs in memory).
 * The object store and the local cluster: scripts/shadow.e2e.test.ts.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type FixtureArtifact, shapePng, writeFixtureArtifact } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer } from '../testing/serving/harness.ts';
import { loadConfig } from './config.ts';

const SHAPES = ['circle', 'square', 'cross', 'triangle'] as const;
let root: string;
let championArtifact: FixtureArtifact;
let challengerArtifact: FixtureArtifact;
let challenger: TestServer;
let champion: TestServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'shadow-'));
  championArtifact = await writeFixtureArtifact(join(root, 'champion'), {
    seed: 1,
    version: 'v00000000000a',
  });
  challengerArtifact = await writeFixtureArtifact(join(root, 'challenger'), {
    seed: 2,
    version: 'v00000000000b',
  });
  challenger = await startTestServer(challengerArtifact);
  champion = await startTestServer(championArtifact, { SERVING_SHADOW_URL: challenger.url });
});
afterAll(async () => {
  await champion?.close();
  await challenger?.close();
  await rm(root, { recursive: true, force: true });
});

type Answer = { request_id: string; feedback_id: string; version: string; predictions: { label: string }[] };

async function predict(url: string, shape: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${url}/predict`, {
    method: 'POST',
    body: shapePng(shape as (typeof SHAPES)[number]),
    headers: { 'content-type': 'image/png', ...headers },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

/** The value of a counter series with these labels (0 when absent). */
async function count(s: TestServer, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await s.registry.getSingleMetric(name)!.get()).values;
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('shadow traffic: the champion answers, the challenger gets the same images off the request path', () => {
  it('mirrors each answer with its request id, counts agreement per image against what the challenger answers itself', async () => {
    const before = await count(challenger, 'serving_predictions_total', {});
    let expectedAgree = 0;
    for (const shape of SHAPES) {
      const a = await predict(champion.url, shape, { 'x-request-id': `req-${shape}` });
      expect(a.version).toBe('v00000000000a');
      // What the challenger answers for the same image, asked directly (marked as a mirror: not mirrored again).
      const b = await predict(challenger.url, shape, { 'x-shadow-of': 'test/direct' });
      if (a.predictions[0]!.label === b.predictions[0]!.label) expectedAgree++;
    }
    const labels = { model: 'demo-classifier', version: 'v00000000000a', shadow_version: 'v00000000000b' };
    await until('4 mirrored answers', async () => {
      return (
        (await count(champion, 'serving_shadow_requests_total', { ...labels, outcome: 'answered' })) === 4
      );
    });
    expect(await count(champion, 'serving_shadow_images_total', { ...labels, outcome: 'agree' })).toBe(
      expectedAgree,
    );
    expect(await count(champion, 'serving_shadow_images_total', { ...labels, outcome: 'disagree' })).toBe(
      4 - expectedAgree,
    );
    // The two seeds' untrained models disagree somewhere, so the check above can fail either way.
    expect(expectedAgree).toBeLessThan(4);
    // The challenger answered 4 mirrored and 4 direct requests.
    expect((await count(challenger, 'serving_predictions_total', {})) - before).toBe(8);
  });

  it("scores a label of a mirrored answer against the challenger's answer too: its live accuracy on labelled requests", async () => {
    const a = await predict(champion.url, 'cross');
    const b = await predict(challenger.url, 'cross', { 'x-shadow-of': 'test/direct' });
    const challengerTop = b.predictions[0]!.label;
    await until(
      'the pair kept',
      async () => (await count(champion, 'serving_shadow_requests_total', { outcome: 'answered' })) === 5,
    );
    const res = await fetch(`${champion.url}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ feedback_id: a.feedback_id, label: challengerTop }),
    });
    expect(res.status).toBe(200);
    const labels = { model: 'demo-classifier', version: 'v00000000000b', champion_version: 'v00000000000a' };
    await until(
      'the challenger scored',
      async () => (await count(champion, 'serving_shadow_feedback_total', labels)) === 1,
    );
    expect(await count(champion, 'serving_shadow_feedback_total', { ...labels, outcome: 'correct' })).toBe(1);
    // The champion's own count is by its own answer, as without shadow traffic.
    expect(
      await count(champion, 'serving_feedback_total', {
        version: 'v00000000000a',
        outcome: a.predictions[0]!.label === challengerTop ? 'correct' : 'incorrect',
      }),
    ).toBe(1);
  });

  it('never mirrors a mirrored request (two servers shadowing each other do not loop)', async () => {
    const before = await count(champion, 'serving_shadow_requests_total', {});
    await predict(champion.url, 'square', { 'x-shadow-of': 'demo-classifier/v0' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await count(champion, 'serving_shadow_requests_total', {})).toBe(before);
  });
});

describe('a challenger that is down, slow or wrong never touches the answer', () => {
  let slow: Server;
  let slowUrl: string;
  const held: (() => void)[] = [];
  const received: { requestId?: string; shadowOf?: string; type?: string }[] = [];

  beforeAll(async () => {
    slow = createServer((req, res) => {
      req.resume();
      received.push({
        requestId: req.headers['x-request-id'] as string,
        shadowOf: req.headers['x-shadow-of'] as string,
        type: req.headers['content-type'],
      });
      held.push(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"version": 7}');
      });
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const release of held) release();
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  });

  it('past SERVING_SHADOW_MAX_IN_FLIGHT a mirror is dropped and counted; the answers come at once', async () => {
    const s = await startTestServer(championArtifact, {
      SERVING_SHADOW_URL: slowUrl,
      SERVING_SHADOW_MAX_IN_FLIGHT: '2',
      SERVING_SHADOW_TIMEOUT_MS: '60000',
    });
    try {
      for (const shape of SHAPES) await predict(s.url, shape, { 'x-request-id': `slow-${shape}` });
      expect(await count(s, 'serving_shadow_requests_total', { outcome: 'dropped' })).toBe(2);
      // The mirrored requests carry the champion's request id and say whose mirror they are.
      await until('2 mirrored requests received', async () => received.length === 2);
      expect(received).toEqual([
        { requestId: 'slow-circle', shadowOf: 'demo-classifier/v00000000000a', type: 'application/json' },
        { requestId: 'slow-square', shadowOf: 'demo-classifier/v00000000000a', type: 'application/json' },
      ]);
      expect(s.app.serving.shadow?.inFlight).toBe(2);
      // A challenger answering something else than a /predict answer is an error, not a comparison.
      for (const release of held.splice(0)) release();
      await until(
        '2 errors',
        async () => (await count(s, 'serving_shadow_requests_total', { outcome: 'error' })) === 2,
      );
      expect(await count(s, 'serving_shadow_images_total', {})).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('a challenger that does not answer is an error, logged; the client gets its answer', async () => {
    const s = await startTestServer(championArtifact, {
      SERVING_SHADOW_URL: 'http://127.0.0.1:9',
      SERVING_SHADOW_TIMEOUT_MS: '500',
    });
    try {
      await predict(s.url, 'circle');
      await until(
        'the error',
        async () => (await count(s, 'serving_shadow_requests_total', { outcome: 'error' })) === 1,
      );
      expect(s.logger.lines.some((l) => l.msg === 'shadow: the challenger did not answer')).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('SERVING_SHADOW_URL must be a base http(s) URL; the sample a share', async () => {
    for (const [k, v] of [
      ['SERVING_SHADOW_URL', 'ftp://challenger'],
      ['SERVING_SHADOW_URL', 'http://challenger/predict'],
      ['SERVING_SHADOW_SAMPLE', '1.5'],
      ['SERVING_SHADOW_MAX_IN_FLIGHT', '0'],
    ] as const) {
      await expect(
        loadConfig({ ...championArtifact.env, SERVING_SHADOW_URL: 'http://challenger:8080', [k]: v }),
      ).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining(k) });
    }
    const ok = await loadConfig({ ...championArtifact.env, SERVING_SHADOW_URL: 'http://challenger:8080' });
    expect(ok.shadow).toEqual({ url: 'http://challenger:8080', sample: 1, maxInFlight: 8, timeoutMs: 5000 });
  });
});
