import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { MlflowClient } from '../../platform/mlflow/index.ts';
import { freePort } from '../../testing/ports.ts';
import { trackingCallbacks } from './callbacks.ts';
import { LocalRunStore } from './local-store.ts';
import { RunRecorder } from './recorder.ts';
import { LocalSink, MlflowSink } from './sinks.ts';

let dir: string;
let artifactDir: string;
let server: Server | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recorder-'));
  artifactDir = join(dir, 'artifact');
  await mkdir(artifactDir);
  await writeFile(join(artifactDir, 'model.json'), '{"format":"layers-model"}');
  await writeFile(
    join(artifactDir, 'metrics.json'),
    JSON.stringify({ accuracy: 0.9, macro_f1: 0.8, per_class: {} }),
  );
});
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

let clock = 1_000;
const now = () => clock++;
const quietClient = (baseUrl: string) =>
  new MlflowClient({
    baseUrl,
    retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 },
    sleep: async () => {},
  });

/** Drive the callbacks the way training does: start, 3 epochs, end. */
async function trainWith(recorder: RunRecorder, uploadHintUri?: string) {
  const cb = trackingCallbacks({
    recorder,
    experiment: 'shapes',
    modelName: 'shapes-cnn',
    aliases: ['candidate'],
    sourceTags: { 'mlflow.source.git.commit': 'abc123' },
    uploadHintUri,
  });
  await cb.onRunStart({
    config: { epochs: 3, model: { filters: [8, 16] } },
    datasetDigest: 'sha256:d1',
    backend: 'cpu',
  });
  for (let epoch = 0; epoch < 3; epoch++) {
    await cb.onEpochEnd(epoch, { loss: 1 / (epoch + 1), accuracy: 0.5 + epoch / 10, val_loss: Number.NaN });
  }
  return cb.onRunEnd({ artifactDir });
}

async function expectCompleteLocalRun(store: LocalRunStore, runId: string) {
  const run = await store.readRun(runId);
  expect(run).toMatchObject({
    experiment: 'shapes',
    status: 'FINISHED',
    params: { epochs: '3', 'model.filters': '[8,16]' },
    tags: { 'dataset.digest': 'sha256:d1', backend: 'cpu', 'mlflow.source.git.commit': 'abc123' },
    model: { name: 'shapes-cnn', artifact_path: 'model', aliases: ['candidate'] },
  });
  const metrics = await store.readMetrics(runId);
  expect(metrics.filter((m) => m.key === 'loss').map((m) => [m.step, m.value])).toEqual([
    [0, 1],
    [1, 0.5],
    [2, 1 / 3],
  ]);
  expect(metrics.some((m) => m.key === 'val_loss')).toBe(false); // NaN cannot go over JSON: dropped
  expect(metrics.filter((m) => m.key.startsWith('test_')).map((m) => [m.key, m.value])).toEqual([
    ['test_accuracy', 0.9],
    ['test_macro_f1', 0.8],
  ]);
  expect(await readFile(join(store.artifactsDir(runId), 'model', 'model.json'), 'utf8')).toBe(
    '{"format":"layers-model"}',
  );
}

describe('RunRecorder with the local store', () => {
  it('records the whole run and says how to upload it', async () => {
    const store = new LocalRunStore(join(dir, 'mlruns-local'));
    const logs: string[] = [];
    const recorder = new RunRecorder({ primary: new LocalSink(store), now, log: (l) => logs.push(l) });
    const result = await trainWith(recorder);
    expect(result).toMatchObject({ offline: true, where: store.root, modelVersion: undefined });
    expect(result.artifactUri).toBe(`file://${store.artifactsDir(result.runId)}`);
    expect(result.uploadCommand).toBe(`npm run upload-runs -- --store ${store.root} --tracking-uri <url>`);
    expect(logs.join('\n')).toContain(result.uploadCommand);
    await expectCompleteLocalRun(store, result.runId);
  });

  it('marks a crashed run FAILED with the error', async () => {
    const store = new LocalRunStore(dir);
    const recorder = new RunRecorder({ primary: new LocalSink(store), now, log: () => {} });
    const cb = trackingCallbacks({ recorder, experiment: 'shapes', modelName: 'm' });
    await cb.onRunStart({ config: {} });
    await cb.onEpochEnd(0, { loss: 2 });
    const result = await cb.onRunFailed(new Error('out of memory'));
    const run = await store.readRun(result!.runId);
    expect(run.status).toBe('FAILED');
    expect(run.tags['error.message']).toBe('out of memory');
    expect(run.end_time).toBeGreaterThan(run.start_time);
  });
});

describe('RunRecorder when the server is down', () => {
  it('goes on in the local store when nothing listens on the tracking port', async () => {
    const uri = `http://127.0.0.1:${await freePort()}`;
    const store = new LocalRunStore(join(dir, 'buffer'));
    const logs: string[] = [];
    const recorder = new RunRecorder({
      primary: new MlflowSink(quietClient(uri)),
      fallbackStore: store,
      now,
      log: (l) => logs.push(l),
    });
    const result = await trainWith(recorder);
    expect(result.offline).toBe(true);
    expect(result.uploadCommand).toBe(`npm run upload-runs -- --store ${store.root} --tracking-uri ${uri}`);
    expect(logs[0]).toContain(`warning: could not start the run on ${uri}`);
    expect(logs[0]).toContain('ECONNREFUSED');
    await expectCompleteLocalRun(store, result.runId);
  });

  it('goes on in the local store when the server answers 503', async () => {
    let requests = 0;
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(503).end('maintenance');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const store = new LocalRunStore(join(dir, 'buffer'));
    const recorder = new RunRecorder({
      primary: new MlflowSink(quietClient(uri)),
      fallbackStore: store,
      now,
      log: () => {},
    });
    const result = await trainWith(recorder);
    expect(requests).toBe(3); // one call, two retries, then local for the rest of the run
    await expectCompleteLocalRun(store, result.runId);
  });
});
