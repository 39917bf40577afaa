/**
 * Data in Git, lineage in both places: a training config whose data comes
 * through a data pointer (data/<name>.json, training/data/pointer.ts), the
 * archive served over HTTP by a loopback server, trained and recorded against
 * a real MLflow server (testing/mlflow.ts). The lock entry's datasetDigest
 * is the pointer's digest, and the MLflow run has the dataset as an input
 * (name, digest, source http + URL, context training); a run recorded offline
 * carries it to the server through upload-runs.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readLock } from '../../lock/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import { type DatasetInput, MlflowClient } from '../../platform/mlflow/index.ts';
import { tempDir } from '../../testing/lock/fixtures.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../../testing/mlflow.ts';
import { needs } from '../../testing/services.ts';
import { tinyTrainingConfig } from '../../testing/training/tiny-config.ts';
import type { TrainingConfig } from '../../training/config.ts';
import { type DataPointer, generateDemoDataset, packDataPointer } from '../../training/data/index.ts';
import { loadGoldenSet } from '../../training/golden.ts';
import {
  LocalRunStore,
  MLFLOW_DATASET_DIGEST_LENGTH,
  uploadLocalRuns,
} from '../../training/tracking/index.ts';
import { trainAndRecord } from './train-and-record.ts';

let dir: string;
let mlflow: MlflowServer | undefined;
/** The tests that talk to MLflow: skipped with the reason outside CI when it is not installed, a failure in CI. */
const withMlflow = needs(mlflowInstalled()).it;
let client: MlflowClient;
let http: Server;
let pointer: DataPointer;
let pointerPath: string;

beforeAll(async () => {
  dir = await tempDir('data-pointer-e2e-');
  mlflow = await startMlflow();
  if (mlflow)
    client = new MlflowClient({ baseUrl: mlflow.uri, retry: { maxRetries: 2, initialDelayMs: 50 } });
  const folder = (await generateDemoDataset(join(dir, 'source'), { seed: 11, perClass: 6, size: 8 })).root;
  let archive = new Uint8Array();
  http = createServer((req, res) => {
    if (req.url !== '/datasets/shapes-v2.tar.gz') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': archive.length }).end(archive);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  pointerPath = join(dir, 'repo', 'data', 'shapes.json');
  pointer = await packDataPointer(folder, {
    name: 'shapes',
    uri: `http://127.0.0.1:${(http.address() as AddressInfo).port}/datasets/shapes-v2.tar.gz`,
    archivePath: join(dir, 'shapes-v2.tar.gz'),
    pointerPath,
    description: 'shapes, 6 per class',
  });
  archive = await readFile(join(dir, 'shapes-v2.tar.gz'));
}, 300_000);

afterAll(async () => {
  await mlflow?.close();
  await new Promise<void>((r) => http?.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

/** The tiny config with its data through the pointer. */
function pointerConfig(name: string): TrainingConfig {
  const c = tinyTrainingConfig({ name, dataPath: join(dir, 'repo', 'data', 'shapes') });
  return {
    ...c,
    data: { kind: 'image-folder', path: c.data.path, pointer: pointerPath, split: c.data.split },
  };
}

/** What a dataset input must say about the pointer's data. */
function expectPointerInput(inputs: DatasetInput[] | undefined) {
  expect(inputs).toHaveLength(1);
  const { dataset, tags } = inputs![0]!;
  expect(dataset.name).toBe('shapes');
  expect(dataset.digest).toBe(
    pointer.digest.slice('sha256:'.length, 'sha256:'.length + MLFLOW_DATASET_DIGEST_LENGTH),
  );
  expect(dataset.source_type).toBe('http');
  expect(JSON.parse(dataset.source)).toEqual({ url: pointer.uri });
  expect(JSON.parse(dataset.profile ?? '{}')).toMatchObject({ digest: pointer.digest, pointer: pointerPath });
  expect(tags).toEqual([{ key: 'mlflow.data.context', value: 'training' }]);
}

describe('a data pointer through training, the lock and MLflow', () => {
  withMlflow(
    'the lock entry has the pointer digest and the MLflow run has the dataset as its input',
    async () => {
      const work = join(dir, 'repo');
      const lockPath = join(work, 'models.lock.json');
      await writeFile(lockPath, '{"lockfileVersion":2,"models":{}}\n');
      const r = await trainAndRecord({
        config: pointerConfig('pointer-e2e'),
        env: { MLFLOW_TRACKING_URI: mlflow!.uri },
        cwd: work,
        outDir: join(work, 'artifacts', 'pointer-e2e'),
        lockPath,
        progress: false,
        log: () => {},
      });
      expect(r.tracking.offline).toBe(false);
      const entry = (await readLock(lockPath)).models['pointer-e2e']!.versions[r.lockVersion!]!;
      expect(entry.datasetDigest).toBe(pointer.digest);
      const training = JSON.parse(await readFile(join(r.train.artifactDir, 'training.json'), 'utf8'));
      expect(training.dataset).toMatchObject({ name: 'shapes', pointer: pointerPath, uri: pointer.uri });
      const run = await client.getRun(r.tracking.runId);
      expectPointerInput(run.inputs?.dataset_inputs);
      const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
      expect(tags['dataset.digest']).toBe(pointer.digest);
      expect(tags['dataset.pointer']).toBe(pointerPath);
    },
    120_000,
  );

  withMlflow(
    'a run recorded offline keeps its dataset input and upload-runs sends it to the server',
    async () => {
      const work = join(dir, 'offline');
      const r = await trainAndRecord({
        config: pointerConfig('pointer-offline'),
        env: {},
        cwd: work,
        outDir: join(work, 'artifact'),
        progress: false,
        log: () => {},
      });
      expect(r.tracking.offline).toBe(true);
      const store = new LocalRunStore(join(work, 'mlruns-local'));
      const [local] = await store.listRuns();
      expectPointerInput(local?.inputs);
      const [up] = await uploadLocalRuns({ store, client, log: () => {} });
      expect(up?.action).toBe('uploaded');
      expectPointerInput((await client.getRun(up!.remoteRunId!)).inputs?.dataset_inputs);
    },
    120_000,
  );

  it('a golden set through a data pointer: the same fetcher, its digest pinned in the training config', async () => {
    const golden = {
      name: 'shapes-golden',
      digest: pointer.digest,
      kind: 'image-folder' as const,
      pointer: pointerPath,
      path: join(dir, 'golden-from-pointer'),
    };
    const set = await loadGoldenSet(golden);
    expect([set.digest, set.items.length, set.labels]).toEqual([
      pointer.digest,
      24,
      ['circle', 'cross', 'square', 'triangle'],
    ]);
    const err = (await loadGoldenSet(
      { ...golden, digest: `sha256:${'e'.repeat(64)}` },
      { what: 'training/configs/x.json' },
    ).catch((e: unknown) => e)) as ProjectError;
    expect(err).toBeInstanceOf(ProjectError);
    expect(err.message.split('\n')[0]).toBe(
      `golden set "shapes-golden": the data in ${golden.path} has digest ${pointer.digest}, but golden.digest in training/configs/x.json pins sha256:${'e'.repeat(64)}`,
    );
    expect(err.hint).toBe(
      `${pointerPath} holds another data set than golden.digest pins: point golden.pointer at the pinned golden set, or pin the new digest in a reviewed pull request (the champion is then scored on it again by ci:train)`,
    );
  }, 120_000);
});
