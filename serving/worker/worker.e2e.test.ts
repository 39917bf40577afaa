/**
 * Inference in a worker thread, through a real loopback server: a request
 * answered by the worker, the same probabilities as the main-thread path,
 * no tensor left in the worker, and a crashed worker: in-flight requests get
 * 503 with a clear error and Retry-After, readiness goes false, the worker
 * is restarted and readiness comes back; too many crashes make /healthz fail.
 * A thread launched before the model (as serving/main.ts does) loads its
 * backend, then the model it is handed; one that fails or is cancelled is gone.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { ModelParts } from '../../model/artifact/layers.ts';
import { modelParts, openArtifactDir } from '../../model/artifact/read.ts';
import type { BackendName } from '../../model/backend.ts';
import { shapePng } from '../../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../../testing/serving/harness.ts';
import { InferenceWorker } from './index.ts';

let fixture: Awaited<ReturnType<typeof tempFixture>>;
beforeAll(async () => {
  fixture = await tempFixture();
});
afterAll(async () => {
  await fixture?.cleanup();
});

const png = shapePng('square');
const predict = (url: string) =>
  fetch(`${url}/predict?k=4`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });

describe('worker thread inference', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(fixture, { SERVING_INFERENCE_THREAD: 'worker' });
  });
  afterAll(async () => {
    await s?.close();
  });

  test('a valid request is answered by the worker, as the main thread would', async () => {
    expect(s.model.runner).toBe('worker');
    expect(s.model.worker).toBeInstanceOf(InferenceWorker);
    const res = await predict(s.url);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { predictions: { label: string; probability: number }[] };
    expect(body.predictions.map((p) => p.label).sort()).toEqual(['circle', 'cross', 'square', 'triangle']);

    const main = await startTestServer(fixture, { SERVING_INFERENCE_THREAD: 'main' });
    try {
      expect(main.model.runner).toBe('main');
      const ref = (await (await predict(main.url)).json()) as typeof body;
      expect(body.predictions).toEqual(ref.predictions);
    } finally {
      await main.close();
    }
  });

  test("the worker's tensor count, asked by message, is unchanged by inference", async () => {
    const before = await s.model.numTensors();
    expect(before).toBeGreaterThan(0);
    await Promise.all(Array.from({ length: 20 }, () => predict(s.url).then((r) => r.arrayBuffer())));
    await s.app.serving.batcher.idle();
    expect(await s.model.numTensors()).toBe(before);
  });

  test('a crash fails in-flight work with 503 + Retry-After, readiness drops, the worker restarts', async () => {
    const worker = s.model.worker!;
    const ready = () => fetch(`${s.url}/readyz`).then((r) => r.status);
    expect(await ready()).toBe(200);
    const seen: boolean[] = [];
    s.model.onAvailability((available) => seen.push(available));
    // A request in flight when the thread dies: queued behind the crash message.
    worker.simulateCrash(7);
    const inFlight = await predict(s.url);
    expect(inFlight.status).toBe(503);
    expect(inFlight.headers.get('retry-after')).toBe('1');
    const err = (await inFlight.json()) as { code: string; error: string };
    expect(err.code).toBe('UNAVAILABLE');
    // The client gets a fixed sentence; the exit code is in the log only.
    expect(err.error).toMatch(
      /^(inference failed: the inference worker thread exited while running this batch|the inference worker is restarting after a crash)/,
    );
    expect(err.error).not.toContain('code 7');
    await worker.settled();
    expect(worker.available).toBe(true);
    expect(seen).toEqual([false, true]); // readiness followed: not ready, then ready again
    expect(await ready()).toBe(200);
    expect((await predict(s.url)).status).toBe(200);
    expect(
      s.logger.lines.some(
        (l) => l.msg === 'inference worker crashed; restarting' && /exited \(code 7/.test(String(l.reason)),
      ),
    ).toBe(true);
    expect(s.logger.lines.some((l) => l.msg === 'inference worker restarted')).toBe(true);
  });
});

test('a worker that keeps crashing is given up: 503 on /predict, /readyz and /healthz, with the reason', async () => {
  const s = await startTestServer(fixture, { SERVING_INFERENCE_THREAD: 'worker' });
  try {
    const worker = s.model.worker!;
    // The default tolerates 3 crashes within 60 s; the 4th is given up on.
    for (let i = 0; i < 4; i++) {
      await worker.settled();
      worker.simulateCrash(1);
      await new Promise<void>((r) => {
        const poll = () => (worker.available ? setTimeout(poll, 5) : r());
        poll();
      });
    }
    await worker.settled();
    expect(worker.available).toBe(false);
    expect(worker.failure).toMatch(/crashed 4 times within 60 s and is not restarted again/);
    const res = await predict(s.url);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/^inference is down: /);
    expect((await fetch(`${s.url}/readyz`)).status).toBe(503);
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { status: string }).status).toBe('failed');
  } finally {
    await s.close();
  }
});

test('a model that cannot be built in the worker fails start-up with INVALID naming model.json', async () => {
  await expect(
    InferenceWorker.start({
      backend: 'cpu',
      parts: {
        uri: '/nowhere/artifact',
        modelTopology: { class_name: 'NoSuchModel', config: {} },
        weightSpecs: [],
        weightData: new ArrayBuffer(0),
        input: [16, 16, 1],
        labels: 4,
      },
    }),
  ).rejects.toMatchObject({
    code: 'INVALID',
    message: expect.stringMatching(/model.json of \/nowhere\/artifact/),
  });
});

describe('a thread launched before the model (serving/main.ts)', () => {
  let parts: ModelParts;
  beforeAll(async () => {
    parts = modelParts(await openArtifactDir(fixture.dir)).parts;
  });

  test('loads its backend first, then builds the model it is handed, on that backend', async () => {
    const thread = InferenceWorker.launch({ force: 'cpu' });
    const choice = await thread.backend;
    expect(choice).toMatchObject({ id: 'cpu', name: 'cpu' });
    const worker = await InferenceWorker.start({ parts: parts, thread });
    try {
      expect(worker.backendChoice).toEqual(choice);
      const probs = await worker.predict(new Float32Array(16 * 16), 1);
      expect(probs.length).toBe(4);
      // A thread is loaded once.
      await expect(thread.load(parts, 'layers')).rejects.toThrow(/loaded or cancelled already/);
    } finally {
      await worker.close();
    }
  });

  test('a backend it cannot load fails its backend and its load, and the thread is gone', async () => {
    const thread = InferenceWorker.launch({ force: 'no-such-backend' as BackendName });
    await expect(thread.backend).rejects.toThrow();
    await expect(InferenceWorker.start({ parts: parts, thread })).rejects.toThrow();
  });

  test('a cancelled thread exits, so a failed start-up leaves nothing running', async () => {
    const thread = InferenceWorker.launch({ force: 'cpu' });
    await thread.cancel();
    await expect(thread.backend).rejects.toThrow(/exited .* while starting/);
  });
});
