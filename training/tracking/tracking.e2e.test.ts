import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { readLock, verifyLock } from '../../lock/index.ts';
import { trainAndRecord } from '../../pipelines/training/index.ts';
import { listFiles } from '../../platform/digest.ts';
import { MlflowClient } from '../../platform/mlflow/index.ts';
import { main as uploadRuns } from '../../scripts/upload-runs.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../../testing/mlflow.ts';
import { needs } from '../../testing/services.ts';
import { tinyTrainingConfig } from '../../testing/training/tiny-config.ts';
import { trackingCallbacks } from './callbacks.ts';
import { recorderFromEnv } from './config.ts';
import { LocalRunStore } from './local-store.ts';

const { describe } = needs(mlflowInstalled());
let server: MlflowServer;
let client: MlflowClient;
let dir: string;
let artifactDir: string;

beforeAll(async () => {
  server = await startMlflow();
  client = new MlflowClient({ baseUrl: server.uri, retry: { maxRetries: 2, initialDelayMs: 50 } });
  dir = await mkdtemp(join(tmpdir(), 'tracking-e2e-'));
  // An artifact folder as docs/artifact.md describes (small stand-ins for each file).
  artifactDir = join(dir, 'artifact');
  await mkdir(artifactDir);
  const files: Record<string, string | Uint8Array> = {
    'model.json': '{"format":"layers-model","modelTopology":{}}',
    'weights.bin': Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) % 256),
    'labels.json': '["circle","square","triangle"]',
    'metrics.json': JSON.stringify({ accuracy: 0.875, macro_f1: 0.86 }),
    'confusion-matrix.png': Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]),
    'learning-curves.png': Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 4, 5, 6]),
  };
  for (const [name, data] of Object.entries(files)) await writeFile(join(artifactDir, name), data);
}, 300_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const fastRetry = { retry: { maxRetries: 1, initialDelayMs: 10, maxDelayMs: 20 } };

/** A TCP proxy to the real server that can be cut (connection refused) and restored on the same port. */
async function tcpProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let srv: Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve) => {
      srv = createServer((c) => {
        const up = connect(targetPort, '127.0.0.1');
        for (const s of [c, up]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        c.pipe(up).pipe(c);
      });
      srv.listen(port, '127.0.0.1', () => resolve((srv!.address() as { port: number }).port));
    });
  const port = await listen(0);
  return {
    uri: `http://127.0.0.1:${port}`,
    cut: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv!.close(() => r());
      }),
    restore: () => listen(port),
  };
}

async function expectArtifactsByteForByte(runId: string, artifactUri: string) {
  const local = await listFiles(artifactDir);
  const remote = await client.listArtifactsRecursive(runId, 'model');
  expect(remote.map((f) => f.path)).toEqual(local.map((f) => `model/${f}`));
  for (const f of local) {
    const got = Buffer.from(await client.downloadArtifact(artifactUri, `model/${f}`));
    expect(got.equals(await readFile(join(artifactDir, f)))).toBe(true);
  }
}

async function train(env: Record<string, string>, opts: { between?: () => Promise<void> } = {}) {
  const logs: string[] = [];
  const { recorder, trackingUri } = recorderFromEnv({
    env,
    cwd: dir,
    localStore: join(dir, 'mlruns-local'),
    log: (l) => logs.push(l),
    http: fastRetry,
  });
  const cb = trackingCallbacks({
    recorder,
    experiment: 'shapes-e2e',
    modelName: 'shapes-cnn',
    aliases: ['candidate'],
    sourceTags: { 'mlflow.source.git.commit': 'c0ffee', 'github.pr_number': '42' },
    uploadHintUri: trackingUri,
  });
  await cb.onRunStart({
    config: { epochs: 4, optimizer: { lr: 0.01 } },
    datasetDigest: 'sha256:ab',
    backend: 'cpu',
  });
  for (let epoch = 0; epoch < 4; epoch++) {
    if (epoch === 2) await opts.between?.();
    await cb.onEpochEnd(epoch, {
      loss: 1 / (epoch + 1),
      accuracy: epoch / 4,
      val_loss: 2 / (epoch + 1),
      lr: 0.01,
    });
    await recorder.flush(); // one batch per epoch, so that the server sees epochs 0-1 before it goes down
  }
  return { result: await cb.onRunEnd({ artifactDir }), logs };
}

describe('run recorder against a real MLflow server', () => {
  it('logs params, tags, per-epoch metrics, test metrics, artifacts and registers the model', async () => {
    const { result } = await train({ MLFLOW_TRACKING_URI: server.uri });
    expect(result.offline).toBe(false);
    expect(result.modelVersion).toBe('1');
    const run = await client.getRun(result.runId);
    expect(run.info.status).toBe('FINISHED');
    expect(run.data.params).toEqual(
      expect.arrayContaining([
        { key: 'epochs', value: '4' },
        { key: 'optimizer.lr', value: '0.01' },
      ]),
    );
    expect(run.data.tags).toEqual(
      expect.arrayContaining([
        { key: 'dataset.digest', value: 'sha256:ab' },
        { key: 'backend', value: 'cpu' },
        { key: 'mlflow.source.git.commit', value: 'c0ffee' },
        { key: 'github.pr_number', value: '42' },
      ]),
    );
    const loss = await client.getMetricHistory(result.runId, 'loss');
    expect(loss.map((m) => [m.step, m.value])).toEqual([
      [0, 1],
      [1, 0.5],
      [2, 1 / 3],
      [3, 0.25],
    ]);
    expect((await client.getMetricHistory(result.runId, 'test_accuracy')).map((m) => m.value)).toEqual([
      0.875,
    ]);
    await expectArtifactsByteForByte(result.runId, result.artifactUri);
    const mv = await client.getVersionByAlias('shapes-cnn', 'candidate');
    expect(mv).toMatchObject({ version: '1', run_id: result.runId, source: `${result.artifactUri}/model` });
  });

  it('keeps the run when the server goes down mid-run, and upload-runs sends it whole afterwards', async () => {
    const proxy = await tcpProxy(server.port);
    const { result, logs } = await train({ MLFLOW_TRACKING_URI: proxy.uri }, { between: proxy.cut });
    expect(result.offline).toBe(true);
    expect(result.modelVersion).toBeUndefined();
    expect(logs.join('\n')).toContain(`could not log metrics on ${proxy.uri}`);
    expect(result.uploadCommand).toBe(
      `npm run upload-runs -- --store ${join(dir, 'mlruns-local')} --tracking-uri ${proxy.uri}`,
    );
    const store = new LocalRunStore(join(dir, 'mlruns-local'));
    const local = await store.readRun(result.runId);
    expect(local.status).toBe('FINISHED');
    const abandoned = local.abandoned_remote!.run_id;

    await proxy.restore();
    const out = jest.spyOn(console, 'log').mockImplementation(() => {});
    const err = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await uploadRuns(['--tracking-uri', proxy.uri, '--store', store.root], {}, dir)).toBe(0);
      expect(out.mock.calls[0]?.[0]).toBe(
        `1 run(s) uploaded to ${proxy.uri}, 0 skipped (from ${store.root})`,
      );
      const uploaded = (await store.readRun(result.runId)).uploads[proxy.uri]!;
      expect(uploaded).toMatchObject({ complete: true, model_version: '2' });

      const run = await client.getRun(uploaded.run_id);
      expect(run.info.status).toBe('FINISHED');
      expect(run.info.start_time).toBe(local.start_time);
      expect(run.info.end_time).toBe(local.end_time);
      expect(run.data.params).toEqual(expect.arrayContaining([{ key: 'optimizer.lr', value: '0.01' }]));
      expect(run.data.tags).toEqual(expect.arrayContaining([{ key: 'github.pr_number', value: '42' }]));
      const loss = await client.getMetricHistory(uploaded.run_id, 'loss');
      expect(loss.map((m) => [m.step, m.value])).toEqual([
        [0, 1],
        [1, 0.5],
        [2, 1 / 3],
        [3, 0.25],
      ]);
      await expectArtifactsByteForByte(uploaded.run_id, run.info.artifact_uri);
      expect(await client.getVersionByAlias('shapes-cnn', 'candidate')).toMatchObject({
        version: '2',
        run_id: uploaded.run_id,
      });
      // The half-logged run from before the outage is deleted, not left RUNNING.
      expect((await client.getRun(abandoned)).info.lifecycle_stage).toBe('deleted');

      // Idempotent: a second upload sends nothing.
      out.mockClear();
      expect(await uploadRuns(['--tracking-uri', proxy.uri, '--store', store.root], {}, dir)).toBe(0);
      expect(out.mock.calls[0]?.[0]).toBe(
        `0 run(s) uploaded to ${proxy.uri}, 1 skipped (from ${store.root})`,
      );
    } finally {
      out.mockRestore();
      err.mockRestore();
      await proxy.cut();
    }
  });
  it('a real training run (pipelines/training): params, tags, per-epoch metrics, artifacts, registered version; its lock entry verifies through the artifact proxy', async () => {
    const work = join(dir, 'pipeline');
    await mkdir(work, { recursive: true });
    const lockPath = join(work, 'models.lock.json');
    await writeFile(lockPath, '{"lockfileVersion":2,"models":{}}\n');
    const config = tinyTrainingConfig({
      name: 'pipeline-e2e',
      seed: 5,
      dataPath: join(work, 'data'),
      epochs: 2,
      patience: 5,
    });
    const r = await trainAndRecord({
      config,
      env: { MLFLOW_TRACKING_URI: server.uri },
      cwd: work,
      outDir: join(work, 'artifact'),
      lockPath,
      progress: false,
      log: () => {},
      source: { commit: 'c'.repeat(40), branch: 'feature/x', prNumber: 7 },
    });
    expect(r.tracking.offline).toBe(false);
    expect(r.tracking.modelVersion).toBe('1');
    const run = await client.getRun(r.tracking.runId);
    expect(run.info.status).toBe('FINISHED');
    const params = Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value]));
    expect(params['model.builder']).toBe('small-cnn');
    expect(params['training.epochs']).toBe('2');
    const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags['dataset.digest']).toBe(r.train.datasetDigest);
    expect(tags['mlflow.source.git.commit']).toBe('c'.repeat(40));
    expect(tags['github.pr_number']).toBe('7');
    expect(tags.backend).toBe(r.train.backend.id);
    const loss = await client.getMetricHistory(r.tracking.runId, 'loss');
    expect(loss.map((m) => m.step)).toEqual(r.train.history.map((_, i) => i + 1));
    const testAccuracy = (run.data.metrics ?? []).find((m) => m.key === 'test_accuracy');
    expect(testAccuracy?.value).toBeCloseTo(r.train.metrics.accuracy, 10);
    // The whole artifact folder, byte for byte, with the plots.
    const files = await listFiles(r.train.artifactDir);
    expect(files).toEqual(
      expect.arrayContaining(['confusion-matrix.png', 'learning-curves.png', 'digests.json']),
    );
    for (const f of files) {
      const got = await client.downloadArtifact(run.info.artifact_uri, `model/${f}`);
      expect(Buffer.from(got).equals(await readFile(join(r.train.artifactDir, f)))).toBe(true);
    }
    const candidate = await client.getVersionByAlias('pipeline-e2e', 'candidate');
    expect(candidate.version).toBe('1');
    // The lock points at the run's model folder on the artifact proxy, and verify fetches it from there.
    const lock = await readLock(lockPath);
    expect(r.lockVersion).toBe(`v${r.train.rootDigest.slice(0, 12)}`);
    const entry = lock.models['pipeline-e2e']!.versions[r.lockVersion!]!;
    expect(entry.artifactUri).toBe(`${run.info.artifact_uri}/model`);
    expect(entry.mlflow).toEqual({ runId: r.tracking.runId, modelVersion: '1', trackingUri: server.uri });
    await rm(r.train.artifactDir, { recursive: true }); // only MLflow has the files now
    const report = await verifyLock(lock, { lockDir: work, all: true, mlflow: { trackingUri: server.uri } });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
