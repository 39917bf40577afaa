/**
 * POST /feedback and GET /feedback/export on a real server (the fixture
 * model, in-process on a loopback port, no object store: labels in memory),
 * and npm run feedback:export writing them as training data that the
 * image-folder data source reads back. Many replicas and the object store:
 * serving/replicas.e2e.test.ts.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { main as exportMain } from '../scripts/feedback-export.ts';
import { tempDir } from '../testing/lock/fixtures.ts';
import { shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';
import { loadImageFolder } from '../training/data/index.ts';

const TOKEN = 'export-token-0123456789';
let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;
let off: TestServer;

beforeAll(async () => {
  fixture = await tempFixture();
  s = await startTestServer(fixture, { SERVING_FEEDBACK_EXPORT_TOKEN: TOKEN, SERVING_FEEDBACK_WINDOW: '3' });
  off = await startTestServer(fixture, { SERVING_FEEDBACK_CAPACITY: '0' });
});
afterAll(async () => {
  await s?.close();
  await off?.close();
  await fixture?.cleanup();
});

async function predict(server: TestServer, shape: 'circle' | 'square' | 'cross' | 'triangle') {
  const res = await fetch(`${server.url}/predict`, {
    method: 'POST',
    body: shapePng(shape),
    headers: { 'content-type': 'image/png' },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { request_id: string; feedback_id: string; predictions: { label: string }[] };
}

async function feedback(server: TestServer, body: unknown, type = 'application/json', auth?: string) {
  const res = await fetch(`${server.url}/feedback`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': type, ...(auth ? { authorization: auth } : {}) },
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const metric = async (name: string) => (await s.registry.getSingleMetric(name)!.get()).values;

describe('POST /feedback', () => {
  it('takes the true label of an answer, counts it, and keeps live accuracy per version', async () => {
    const a = await predict(s, 'square');
    const top = a.predictions[0]!.label;
    expect(a.feedback_id).toMatch(/^fb1\./);
    const r = await feedback(s, { feedback_id: a.feedback_id, label: 'square' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      request_id: a.request_id,
      counted: true,
      index: 0,
      label: 'square',
      predicted: top,
      correct: top === 'square',
      version: fixture.pin.version,
      live_accuracy_samples: 1,
    });
    const b = await predict(s, 'circle');
    const wrong = b.predictions[0]!.label === 'cross' ? 'triangle' : 'cross';
    expect((await feedback(s, { feedback_id: b.feedback_id, label: wrong })).json.correct).toBe(false);
    const counts = await metric('serving_feedback_total');
    const total = counts.reduce((n, v) => n + v.value, 0);
    expect(total).toBe(2);
    expect(counts.find((v) => v.labels.outcome === 'incorrect')?.labels).toMatchObject({
      model: 'demo-classifier',
      version: fixture.pin.version,
    });
    const confusion = await metric('serving_feedback_confusion_total');
    expect(confusion).toContainEqual(
      expect.objectContaining({
        labels: expect.objectContaining({ true_class: wrong, predicted_class: b.predictions[0]!.label }),
        value: 1,
      }),
    );
    const live = (await metric('serving_live_accuracy'))[0]!;
    expect(live.value).toBe((top === 'square' ? 1 : 0) / 2);
  });

  it('refuses clearly: a made-up id 400, an altered one 401, an old request_id 400, label outside the labels 400, twice 409, bad index 400, not JSON 415', async () => {
    const madeUp = await feedback(s, { feedback_id: 'never-answered', label: 'circle' });
    expect(madeUp.status).toBe(400);
    expect(madeUp.json.error).toMatch(/feedback_id is not a feedback id this service issued/);
    const a = await predict(s, 'cross');
    const forged = `${a.feedback_id.slice(0, -4)}AAAA`;
    const unsigned = await feedback(s, { feedback_id: forged, label: 'circle' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.json.error).toMatch(/does not carry a valid signature of this service/);
    // Ids are the server's: the client-chosen request id no longer labels anything.
    const old = await feedback(s, { request_id: a.request_id, label: 'cross' });
    expect(old.status).toBe(400);
    expect(old.json.error).toMatch(/feedback is given by the answer's "feedback_id", not its "request_id"/);
    const bad = await feedback(s, { feedback_id: a.feedback_id, label: 'dog' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe(
      `label "dog" is not one of the model's labels (circle, cross, square, triangle)`,
    );
    expect((await feedback(s, { feedback_id: a.feedback_id, label: 'cross', index: 1 })).json.error).toMatch(
      /that answer was for 1 image\(s\); index 1 is not one of them/,
    );
    expect((await feedback(s, { feedback_id: a.feedback_id, label: 'cross' })).status).toBe(200);
    const twice = await feedback(s, { feedback_id: a.feedback_id, label: 'cross' });
    expect(twice.status).toBe(409);
    expect(twice.json.error).toMatch(/already has a label: a label counts once/);
    const fields = await feedback(s, { id: 'x' });
    expect(fields.status).toBe(400);
    expect(fields.json.error).toMatch(/missing required field "feedback_id"/);
    expect((await feedback(s, 'label=cross', 'application/x-www-form-urlencoded')).status).toBe(415);
    const refused = await metric('serving_feedback_refused_total');
    const by = Object.fromEntries(refused.map((v) => [v.labels.reason, v.value]));
    expect(by).toEqual({ unverified: 2, duplicate: 1 });
  });

  it('an id older than SERVING_FEEDBACK_TTL_SECONDS is refused, saying when it was given', async () => {
    const short = await startTestServer(fixture, { SERVING_FEEDBACK_TTL_SECONDS: '1' });
    try {
      const a = await predict(short, 'circle');
      await new Promise((r) => setTimeout(r, 1100));
      const r = await feedback(short, { feedback_id: a.feedback_id, label: 'circle' });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(
        /feedback_id is of an answer given at .*, more than 1 s ago \(SERVING_FEEDBACK_TTL_SECONDS\)/,
      );
    } finally {
      await short.close();
    }
  });

  it('with SERVING_FEEDBACK_TOKEN only labellers holding it may send labels', async () => {
    const guarded = await startTestServer(fixture, { SERVING_FEEDBACK_TOKEN: 'labellers-0123456789' });
    try {
      const a = await predict(guarded, 'circle');
      const none = await feedback(guarded, { feedback_id: a.feedback_id, label: 'circle' });
      expect(none.status).toBe(401);
      expect(none.json.error).toMatch(/^feedback on this server needs the labellers' token/);
      const ok = await feedback(
        guarded,
        { feedback_id: a.feedback_id, label: 'circle' },
        'application/json',
        'Bearer labellers-0123456789',
      );
      expect(ok.status).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('is off with SERVING_FEEDBACK_CAPACITY=0', async () => {
    const a = await predict(off, 'square');
    expect(a.feedback_id).toBeUndefined();
    const r = await feedback(off, { feedback_id: 'fb1.x.y', label: 'square' });
    expect(r.status).toBe(404);
    expect(r.json.error).toMatch(/feedback is off on this server/);
  });
});

describe('GET /feedback/export and npm run feedback:export', () => {
  it('is off without a token, refuses a wrong one, and exports labelled images as training data', async () => {
    const none = await fetch(`${off.url}/feedback/export`);
    expect(none.status).toBe(404);
    const wrong = await fetch(`${s.url}/feedback/export`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');

    const a = await predict(s, 'triangle');
    const labelled = await feedback(s, { feedback_id: a.feedback_id, label: 'triangle' });
    const out = await tempDir('feedback-export-');
    try {
      const lines: string[] = [];
      const code = await exportMain(['--url', s.url, '--out', out], {
        env: { SERVING_FEEDBACK_EXPORT_TOKEN: TOKEN },
        print: (t) => lines.push(t),
      });
      expect(code).toBe(0);
      expect(lines.join('')).toMatch(/^exported \d+ labelled image\(s\) to .* \(.*triangle 1.*\)/);
      // The export is training data: the image-folder source reads it, labels from the folders.
      const data = await loadImageFolder(out);
      expect(data.labels).toContain('triangle');
      const records = (await readFile(join(out, 'feedback.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(records).toContainEqual(
        expect.objectContaining({
          answer_id: labelled.json.answer_id,
          request_id: a.request_id,
          label: 'triangle',
          version: fixture.pin.version,
          image_sha256: createHash('sha256').update(shapePng('triangle')).digest('hex'),
          file: `triangle/${labelled.json.answer_id}-0.png`,
        }),
      );
      expect(JSON.stringify(records)).not.toContain('image_base64');
      const noToken = exportMain(['--url', s.url, '--out', out], { env: {}, print: () => {} });
      await expect(noToken).rejects.toMatchObject({ code: 'USAGE' });
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('POST /feedback is rate-limited per client', () => {
  it('past SERVING_FEEDBACK_RATE_PER_MINUTE labels a minute from one address: 429 with Retry-After, counted; others go on', async () => {
    const limited = await startTestServer(fixture, { SERVING_FEEDBACK_RATE_PER_MINUTE: '3' });
    const proxied = await startTestServer(fixture, {
      SERVING_FEEDBACK_RATE_PER_MINUTE: '1',
      SERVING_TRUST_PROXY: 'true',
    });
    try {
      const send = async (server: TestServer, headers: Record<string, string> = {}) => {
        const a = await predict(server, 'circle');
        return fetch(`${server.url}/feedback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ feedback_id: a.feedback_id, label: 'circle' }),
        });
      };
      for (let i = 0; i < 3; i++) expect((await send(limited)).status).toBe(200);
      const over = await send(limited);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await over.json()).toMatchObject({
        code: 'RATE_LIMITED',
        error: expect.stringContaining('more than 3 labels a minute from 127.0.0.1'),
      });
      const refused = (await limited.registry.getSingleMetric('serving_feedback_refused_total')!.get())
        .values;
      expect(refused.find((v) => v.labels.reason === 'rate_limited')?.value).toBe(1);
      // X-Forwarded-For counts only behind a trusted proxy, and there each client has its own budget.
      expect((await send(limited, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
      expect((await send(proxied, { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200);
      expect((await send(proxied, { 'x-forwarded-for': '203.0.113.2' })).status).toBe(200);
      expect((await send(proxied, { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' })).status).toBe(429);
    } finally {
      await limited.close();
      await proxied.close();
    }
  });
});
