import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../../testing/mlflow.ts';
import { needs } from '../../testing/services.ts';
import { MlflowClient } from './client.ts';

const { describe } = needs(mlflowInstalled());
let server: MlflowServer;
let client: MlflowClient;
let dir: string;

beforeAll(async () => {
  server = await startMlflow();
  client = new MlflowClient({ baseUrl: server.uri, retry: { maxRetries: 2, initialDelayMs: 50 } });
  dir = await mkdtemp(join(tmpdir(), 'mlflow-client-'));
}, 300_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('MlflowClient against a real MLflow server', () => {
  it('gets or creates an experiment, idempotently', async () => {
    expect(await client.getExperimentByName('client-e2e')).toBeUndefined();
    const id = await client.getOrCreateExperiment('client-e2e');
    expect(await client.getOrCreateExperiment('client-e2e')).toBe(id);
    expect((await client.getExperimentByName('client-e2e'))?.experiment_id).toBe(id);
  });

  it('logs params, tags and 2500 metric points in chunks, and reads the whole history back', async () => {
    const experimentId = await client.getOrCreateExperiment('client-e2e');
    const run = await client.createRun({ experimentId, runName: 'batch', tags: [{ key: 'k', value: 'v' }] });
    expect(run.status).toBe('RUNNING');
    expect(run.artifact_uri).toMatch(/^mlflow-artifacts:/);
    const params = Array.from({ length: 150 }, (_, i) => ({ key: `p.${i}`, value: String(i) }));
    const metrics = Array.from({ length: 2500 }, (_, i) => ({
      key: 'loss',
      value: 1 / (i + 1),
      step: i,
      timestamp: 1000 + i,
    }));
    await client.logBatch(run.run_id, { params, metrics });
    await client.setTag(run.run_id, 'backend', 'cpu');
    await client.updateRun(run.run_id, { status: 'FINISHED', endTime: 5000 });

    const got = await client.getRun(run.run_id);
    expect(got.info.status).toBe('FINISHED');
    expect(got.info.end_time).toBe(5000);
    expect(got.data.params).toHaveLength(150);
    expect(got.data.params).toEqual(expect.arrayContaining([{ key: 'p.149', value: '149' }]));
    expect(got.data.tags).toEqual(
      expect.arrayContaining([
        { key: 'k', value: 'v' },
        { key: 'backend', value: 'cpu' },
      ]),
    );
    const history = await client.getMetricHistory(run.run_id, 'loss');
    expect(history.map((m) => [m.step, m.value]).sort((a, b) => a[0]! - b[0]!)).toEqual(
      metrics.map((m) => [m.step, m.value]),
    );
  });

  it('uploads a folder through the artifact proxy, lists it and downloads it byte for byte', async () => {
    const experimentId = await client.getOrCreateExperiment('client-e2e');
    const run = await client.createRun({ experimentId, runName: 'artifacts' });
    const src = join(dir, 'model');
    await mkdir(join(src, 'sub dir'), { recursive: true });
    const weights = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256);
    await writeFile(join(src, 'weights.bin'), weights);
    await writeFile(join(src, 'sub dir', 'labels.json'), '["a","b"]\n');
    expect(await client.uploadArtifacts(run.artifact_uri, src, 'model')).toEqual([
      'sub dir/labels.json',
      'weights.bin',
    ]);

    const files = await client.listArtifactsRecursive(run.run_id);
    expect(files.map((f) => [f.path, f.file_size])).toEqual([
      ['model/sub dir/labels.json', 10],
      ['model/weights.bin', 70_000],
    ]);
    expect(
      Buffer.from(await client.downloadArtifact(run.artifact_uri, 'model/weights.bin')).equals(weights),
    ).toBe(true);
    expect(
      Buffer.from(await client.downloadArtifact(run.artifact_uri, 'model/sub dir/labels.json')).toString(),
    ).toBe('["a","b"]\n');
  });

  it('registers a model (idempotently), creates versions and moves an alias', async () => {
    const experimentId = await client.getOrCreateExperiment('client-e2e');
    const run = await client.createRun({ experimentId, runName: 'register' });
    await client.uploadArtifact(run.artifact_uri, 'model/model.json', new TextEncoder().encode('{}'));
    await client.createRegisteredModel('shapes');
    await client.createRegisteredModel('shapes');
    const source = `${run.artifact_uri}/model`;
    const v1 = await client.createModelVersion({ name: 'shapes', source, runId: run.run_id });
    const v2 = await client.createModelVersion({ name: 'shapes', source, runId: run.run_id });
    expect([v1.version, v2.version]).toEqual(['1', '2']);
    expect(v1.source).toBe(source);
    await client.setAlias('shapes', 'candidate', v1.version);
    expect((await client.getVersionByAlias('shapes', 'candidate')).version).toBe('1');
    await client.setAlias('shapes', 'candidate', v2.version);
    const byAlias = await client.getVersionByAlias('shapes', 'candidate');
    expect([byAlias.version, byAlias.run_id]).toEqual(['2', run.run_id]);
    await expect(client.getVersionByAlias('shapes', 'production')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('model shapes has no alias @production'),
    });
  });
});
