import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rootDigest, sha256 } from '../platform/digest.ts';
import { stableStringify } from '../platform/json.ts';
import { COMMIT, DATASET, makeArtifact, tempDir } from '../testing/lock/fixtures.ts';
import { entryFromArtifact } from './artifact-entry.ts';

let root: string;
beforeAll(async () => {
  root = await tempDir('lock-entry-');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('entryFromArtifact', () => {
  it('reads digests.json, metrics.json and training.json, ignoring extra fields', async () => {
    const dir = join(root, 'ok');
    const { files, root: rootHex } = await makeArtifact(dir, 1, {
      accuracy: 0.93,
      macro_f1: 0.91,
      loss: 0.2,
      samples: 100,
    });
    const entry = await entryFromArtifact(dir, {
      uri: 'artifacts/ok',
      runId: 'abc123',
      modelVersion: '4',
      trackingUri: 'http://mlflow:5000',
    });
    expect(entry).toEqual({
      artifactUri: 'artifacts/ok',
      createdAt: '2026-01-02T03:04:05.000Z',
      datasetDigest: DATASET,
      digests: files,
      rootDigest: rootHex,
      gitCommit: COMMIT,
      metrics: { accuracy: 0.93, macro_f1: 0.91, loss: 0.2, samples: 100 },
      mlflow: { runId: 'abc123', modelVersion: '4', trackingUri: 'http://mlflow:5000' },
      paramsDigest: `sha256:${sha256(stableStringify({ epochs: 3, seed: 1 }))}`,
      backend: 'cpu',
    });
  });

  it('records the backend id, which tells tfjs-node-gpu (tensorflow-gpu) from tfjs-node (tensorflow)', async () => {
    const dir = join(root, 'gpu');
    await makeArtifact(dir, 3);
    const training = JSON.parse(await readFile(join(dir, 'training.json'), 'utf8'));
    training.backend = { id: 'tensorflow-gpu', name: 'tensorflow', package: '@tensorflow/tfjs-node-gpu' };
    const text = JSON.stringify(training);
    await writeFile(join(dir, 'training.json'), text);
    const digests = JSON.parse(await readFile(join(dir, 'digests.json'), 'utf8'));
    digests.files['training.json'] = sha256(text);
    digests.root = rootDigest(digests.files);
    await writeFile(join(dir, 'digests.json'), JSON.stringify(digests));
    const entry = await entryFromArtifact(dir, { uri: 'artifacts/gpu' });
    expect(entry.backend).toBe('tensorflow-gpu');
  });

  it('accepts a bare hex dataset digest, and null MLflow fields when tracked locally', async () => {
    const dir = join(root, 'bare');
    await makeArtifact(dir, 2);
    const training = JSON.parse(await readFile(join(dir, 'training.json'), 'utf8'));
    training.datasetDigest = 'c'.repeat(64);
    delete training.gitCommit;
    const text = stableStringify(training);
    await writeFile(join(dir, 'training.json'), text);
    const digests = JSON.parse(await readFile(join(dir, 'digests.json'), 'utf8'));
    digests.files['training.json'] = sha256(text);
    digests.root = rootDigest(digests.files);
    await writeFile(join(dir, 'digests.json'), stableStringify(digests));
    const entry = await entryFromArtifact(dir, { uri: 'x' });
    expect(entry.datasetDigest).toBe(`sha256:${'c'.repeat(64)}`);
    expect(entry.gitCommit).toBeNull();
    expect(entry.mlflow).toEqual({ runId: null, modelVersion: null });
  });

  it('refuses a folder whose files do not match digests.json, naming the file', async () => {
    const dir = join(root, 'bad');
    await makeArtifact(dir, 3);
    await writeFile(join(dir, 'weights.bin'), 'x');
    await expect(entryFromArtifact(dir, { uri: 'x' })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringContaining(
        `${join(dir, 'weights.bin')}: sha256 ${sha256('x')}, but ${join(dir, 'digests.json')} says`,
      ),
    });
  });

  it('names the missing training.json field', async () => {
    const dir = join(root, 'nodataset');
    await makeArtifact(dir, 4);
    const training = JSON.parse(await readFile(join(dir, 'training.json'), 'utf8'));
    delete training.datasetDigest;
    const text = stableStringify(training);
    await writeFile(join(dir, 'training.json'), text);
    const digests = JSON.parse(await readFile(join(dir, 'digests.json'), 'utf8'));
    digests.files['training.json'] = sha256(text);
    digests.root = rootDigest(digests.files);
    await writeFile(join(dir, 'digests.json'), stableStringify(digests));
    await expect(entryFromArtifact(dir, { uri: 'x' })).rejects.toThrow(
      `${join(dir, 'training.json')} is invalid:\n  - /: missing required field "datasetDigest"`,
    );
  });
});
