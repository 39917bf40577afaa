import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MLFLOW_ARTIFACTS_ROUTE } from '../platform/artifact-store/index.ts';
import { rootDigest } from '../platform/digest.ts';
import {
  type FolderServer,
  makeArtifact,
  makeEntry,
  serveFolder,
  tempDir,
} from '../testing/lock/fixtures.ts';
import { emptyLock } from './io.ts';
import { addCandidate, pinVersion } from './mutate.ts';
import { versionIdOf } from './schema.ts';
import type { Lock } from './types.ts';
import { formatVerifyReport, verifyLock } from './verify.ts';

const M = 'demo-classifier';
const AT = '2026-01-01T00:00:00.000Z';
let root: string;
let files1: Record<string, string>;
let files2: Record<string, string>;

/** A lock whose version 1 (prod) and 2 (unpinned) live at the given URIs. */
function lockWith(uri1: string, uri2: string): Lock {
  let lock = addCandidate(emptyLock(), { model: M, entry: makeEntry(files1, { artifactUri: uri1 }) }).lock;
  lock = addCandidate(lock, {
    model: M,
    entry: makeEntry(files2, { artifactUri: uri2, createdAt: '2026-01-03T00:00:00.000Z' }),
  }).lock;
  return pinVersion(lock, { model: M, env: 'prod', version: id(files1), at: AT });
}

/** The version id of an artifact with these files. */
const id = (files: Record<string, string>) => versionIdOf(rootDigest(files));

beforeAll(async () => {
  root = await tempDir('lock-verify-');
  files1 = (await makeArtifact(join(root, 'artifacts/demo-classifier/1'), 1)).files;
  files2 = (await makeArtifact(join(root, 'artifacts/demo-classifier/2'), 2)).files;
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('verifyLock against local folders', () => {
  it('passes for a relative path and a relative file: URI, resolved against the lock folder', async () => {
    const report = await verifyLock(
      lockWith('artifacts/demo-classifier/1', 'file:artifacts/demo-classifier/2'),
      {
        lockDir: root,
        all: true,
      },
    );
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.versions.map((v) => [v.version, v.envs, v.files, v.ok])).toEqual([
      [id(files1), ['prod'], 4, true],
      [id(files2), [], 4, true],
    ]);
    expect(formatVerifyReport(report)).toContain(
      `ok   demo-classifier version ${id(files1)} (prod): 4 files from artifacts/demo-classifier/1`,
    );
  });

  it('checks only pinned versions unless asked for all', async () => {
    const report = await verifyLock(lockWith(join(root, 'artifacts/demo-classifier/1'), 'missing/2'), {
      lockDir: root,
    });
    expect(report.ok).toBe(true);
    expect(report.versions.map((v) => v.version)).toEqual([id(files1)]);
    const staging = await verifyLock(lockWith('artifacts/demo-classifier/1', 'missing/2'), {
      lockDir: root,
      envs: ['staging'],
    });
    expect(staging.versions).toEqual([]);
    expect(formatVerifyReport(staging)).toBe('nothing to verify: no pinned versions\n');
  });

  it('names model, version, file, expected and actual on a digest mismatch', async () => {
    const dir = join(root, 'tampered');
    const { files } = await makeArtifact(dir, 3);
    await writeFile(join(dir, 'weights.bin'), 'not the weights');
    const lock = pinVersion(
      addCandidate(emptyLock(), { model: M, entry: makeEntry(files, { artifactUri: 'tampered' }) }).lock,
      {
        model: M,
        env: 'prod',
        version: id(files),
        at: AT,
      },
    );
    const report = await verifyLock(lock, { lockDir: root });
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    const [p] = report.problems;
    expect(p).toMatchObject({
      model: M,
      version: id(files),
      file: 'weights.bin',
      expected: files['weights.bin'],
    });
    expect(p?.message).toBe(
      `model "demo-classifier" version ${id(files)}: artifact file "weights.bin" from ${join(dir, 'weights.bin')}: sha256 ${p?.actual}, expected ${files['weights.bin']}`,
    );
    expect(formatVerifyReport(report)).toMatch(
      new RegExp(`^FAIL demo-classifier version ${id(files)} \\(prod\\)`),
    );
  });

  it('reports a missing file without stopping at it', async () => {
    const report = await verifyLock(lockWith('artifacts/demo-classifier/1', 'nowhere'), {
      lockDir: root,
      all: true,
    });
    expect(report.ok).toBe(false);
    expect(report.versions.map((v) => v.ok)).toEqual([true, false]);
    expect(report.problems.map((p) => p.file)).toEqual(Object.keys(files2).sort());
    expect(report.problems[0]?.message).toContain(
      `artifact file "metrics.json" not found at ${join(root, 'nowhere/metrics.json')}`,
    );
  });
});

describe('verifyLock over HTTP (loopback servers)', () => {
  let plain: FolderServer;
  let proxy: FolderServer;
  beforeAll(async () => {
    plain = await serveFolder(root, { prefix: '/files' });
    proxy = await serveFolder(join(root, 'artifacts'), { prefix: MLFLOW_ARTIFACTS_ROUTE, token: 's3cret' });
  });
  afterAll(async () => {
    await plain.close();
    await proxy.close();
  });

  it('fetches an http(s) folder URL: GET <uri>/<file>', async () => {
    const report = await verifyLock(lockWith(`${plain.url}/files/artifacts/demo-classifier/1/`, 'unused'), {
      lockDir: '/',
    });
    expect(report.problems).toEqual([]);
    expect(plain.requests.map((r) => r.path).sort()).toEqual(
      Object.keys(files1)
        .sort()
        .map((f) => `/files/artifacts/demo-classifier/1/${f}`),
    );
  });

  it('fetches mlflow-artifacts:/ URIs through the tracking server proxy route, with the auth header passed in', async () => {
    const report = await verifyLock(
      lockWith('mlflow-artifacts:/demo-classifier/1', 'mlflow-artifacts:/demo-classifier/2'),
      {
        lockDir: '/',
        all: true,
        mlflow: { trackingUri: proxy.url, auth: { kind: 'bearer', token: 's3cret' } },
      },
    );
    expect(report.problems).toEqual([]);
    expect(report.versions).toHaveLength(2);
    expect(proxy.requests).toContainEqual({
      method: 'GET',
      path: `${MLFLOW_ARTIFACTS_ROUTE}/demo-classifier/1/weights.bin`,
      authorization: 'Bearer s3cret',
    });
  });

  it('regression: lock verify sent the MLflow token to any host an entry named (mlflow-artifacts://HOST)', async () => {
    const other = await serveFolder(root, { prefix: `${MLFLOW_ARTIFACTS_ROUTE}/x` });
    try {
      const host = new URL(other.url).host;
      const report = await verifyLock(
        lockWith(`mlflow-artifacts://${host}/demo-classifier/1`, 'mlflow-artifacts:/demo-classifier/2'),
        {
          lockDir: '/',
          all: true,
          mlflow: { trackingUri: proxy.url, auth: { kind: 'bearer', token: 's3cret' } },
        },
      );
      expect(other.requests.length).toBeGreaterThan(0); // it was asked ...
      expect(other.requests.every((r) => r.authorization === undefined)).toBe(true); // ... without the token
      expect(proxy.requests.filter((r) => r.path.includes('/demo-classifier/2/'))).not.toHaveLength(0);
      expect(
        proxy.requests
          .filter((r) => r.path.includes('/demo-classifier/2/'))
          .every((r) => r.authorization === 'Bearer s3cret'),
      ).toBe(true);
      expect(report.versions).toHaveLength(2);
    } finally {
      await other.close();
    }
  });

  it('reports 401 and 404 with the URL and what to do', async () => {
    const report = await verifyLock(lockWith('mlflow-artifacts:/demo-classifier/1', 'unused'), {
      lockDir: '/',
      mlflow: { trackingUri: proxy.url },
    });
    expect(report.ok).toBe(false);
    expect(report.problems[0]?.message).toContain(
      `GET ${proxy.url}${MLFLOW_ARTIFACTS_ROUTE}/demo-classifier/1/metrics.json: HTTP 401`,
    );
    const missing = await verifyLock(lockWith(`${plain.url}/files/nothing-here`, 'unused'), { lockDir: '/' });
    expect(missing.problems[0]?.message).toContain(
      `GET ${plain.url}/files/nothing-here/metrics.json: HTTP 404`,
    );
  });

  it('detects a digest mismatch served over HTTP', async () => {
    const tampered = { ...files1, 'model.json': 'f'.repeat(64) };
    const lock = pinVersion(
      addCandidate(emptyLock(), {
        model: M,
        entry: makeEntry(tampered, { artifactUri: `${plain.url}/files/artifacts/demo-classifier/1` }),
      }).lock,
      { model: M, env: 'prod', version: id(tampered), at: AT },
    );
    const report = await verifyLock(lock, { lockDir: '/' });
    expect(report.problems.map((p) => [p.file, p.expected, p.actual])).toEqual([
      ['model.json', 'f'.repeat(64), files1['model.json']],
    ]);
  });
});
