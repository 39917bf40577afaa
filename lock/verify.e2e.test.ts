/**
 * verify against a real MLflow tracking server: the artifact files are
 * uploaded through its artifact proxy (PUT), then fetched back through the
 * `mlflow-artifacts:/` URI the server hands out, and their digests checked.
 */

import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { MLFLOW_ARTIFACTS_ROUTE } from '../platform/artifact-store/index.ts';
import { rootDigest } from '../platform/digest.ts';
import { makeArtifact, makeEntry, tempDir } from '../testing/lock/fixtures.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../testing/mlflow.ts';
import { needs } from '../testing/services.ts';
import { emptyLock } from './io.ts';
import { addCandidate, pinVersion } from './mutate.ts';
import { versionIdOf } from './schema.ts';
import { verifyLock } from './verify.ts';

const { describe } = needs(mlflowInstalled());
let server: MlflowServer;
let dir: string;
let files: Record<string, string>;

beforeAll(async () => {
  server = await startMlflow();
  dir = await tempDir('lock-mlflow-');
  ({ files } = await makeArtifact(join(dir, 'artifact'), 7));
  for (const name of Object.keys(files)) {
    const res = await fetch(`${server.uri}${MLFLOW_ARTIFACTS_ROUTE}/lock-e2e/demo/1/${name}`, {
      method: 'PUT',
      body: await readFile(join(dir, 'artifact', name)),
    });
    expect(res.status).toBe(200);
  }
}, 300_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('verifyLock through a real MLflow artifact proxy', () => {
  it('fetches mlflow-artifacts:/ files and checks every digest, and names a mismatch', async () => {
    const lockFor = (digests: Record<string, string>) =>
      pinVersion(
        addCandidate(emptyLock(), {
          model: 'demo',
          entry: makeEntry(digests, { artifactUri: 'mlflow-artifacts:/lock-e2e/demo/1' }),
        }).lock,
        {
          model: 'demo',
          env: 'prod',
          version: versionIdOf(rootDigest(digests)),
          at: '2026-01-01T00:00:00.000Z',
        },
      );
    const ok = await verifyLock(lockFor(files), { lockDir: dir, mlflow: { trackingUri: server.uri } });
    expect(ok.problems).toEqual([]);
    expect(ok.versions).toMatchObject([
      { model: 'demo', version: versionIdOf(rootDigest(files)), files: 4, ok: true },
    ]);

    const bad = await verifyLock(lockFor({ ...files, 'weights.bin': '0'.repeat(64) }), {
      lockDir: dir,
      mlflow: { trackingUri: server.uri },
    });
    expect(bad.problems).toEqual([
      expect.objectContaining({
        file: 'weights.bin',
        expected: '0'.repeat(64),
        actual: files['weights.bin'],
      }),
    ]);
    const missing = await verifyLock(lockFor({ ...files, 'extra.bin': '0'.repeat(64) }), {
      lockDir: dir,
      mlflow: { trackingUri: server.uri },
    });
    expect(missing.problems.map((p) => p.file)).toEqual(['extra.bin']);
    expect(missing.problems[0]?.message).toContain(`${MLFLOW_ARTIFACTS_ROUTE}/lock-e2e/demo/1/extra.bin`);
  });
});
