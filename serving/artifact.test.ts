import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { Registry } from 'prom-client';
import { fetchVerifiedArtifact } from '../model/artifact/read.ts';
import { rootDigest } from '../platform/index.ts';
import { tempFixture } from '../testing/serving/harness.ts';
import { memoryLogger } from '../testing/serving/logger.ts';
import { loadConfig } from './config.ts';
import { loadModel } from './model.ts';
import { boot } from './server.ts';

let fixture: Awaited<ReturnType<typeof tempFixture>>;
beforeAll(async () => {
  fixture = await tempFixture();
});
afterAll(() => fixture?.cleanup());

describe('fetchVerifiedArtifact + loadModel', () => {
  test('a local artifact loads, and its predictions are probabilities', async () => {
    const artifact = await fetchVerifiedArtifact(fixture.pin);
    expect([...artifact.files.keys()].sort()).toEqual(Object.keys(fixture.pin.digests).sort());
    const model = await loadModel(artifact, fixture.pin);
    const probs = await model.predict(new Float32Array(2 * model.inputSize), 2);
    expect(probs).toHaveLength(8);
    expect(probs.slice(0, 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    model.dispose();
  });

  test('an http(s) folder is fetched and verified the same way', async () => {
    const server = createServer(async (req, res) => {
      try {
        res.end(await readFile(join(fixture.dir, decodeURIComponent(req.url!.replace('/models/1/', '')))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const pin = { ...fixture.pin, uri: `http://127.0.0.1:${port}/models/1/` };
      const artifact = await fetchVerifiedArtifact(pin);
      expect(artifact.files.get('labels.json')).toEqual(
        new Uint8Array(await readFile(join(fixture.dir, 'labels.json'))),
      );
    } finally {
      server.close();
    }
  });

  test('a changed file fails the digest check naming the file, and the server never becomes ready', async () => {
    const tampered = await tempFixture();
    try {
      const weights = await readFile(join(tampered.dir, 'weights.bin'));
      weights[0] = weights[0]! ^ 0xff;
      await writeFile(join(tampered.dir, 'weights.bin'), weights);
      await expect(fetchVerifiedArtifact(tampered.pin)).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
        subject: 'weights.bin',
      });
      const before = tf.memory().numTensors;
      const registry = new Registry();
      const config = await loadConfig({ ...tampered.env, SERVING_BACKEND: 'cpu' });
      await expect(boot(config, { logger: memoryLogger(), registry })).rejects.toThrow(
        new RegExp(
          `^model demo-classifier version ${tampered.pin.version}: artifact file "weights\\.bin" from .*weights\\.bin: sha256 [0-9a-f]{64}, expected [0-9a-f]{64}`,
        ),
      );
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await tampered.cleanup();
    }
  });

  test('a missing file is NOT_FOUND naming its path', async () => {
    const digests = { ...fixture.pin.digests, 'extra.bin': '0'.repeat(64) };
    const pin = { ...fixture.pin, digests, sha256: rootDigest(digests) };
    await expect(fetchVerifiedArtifact(pin)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(
        `artifact file "extra.bin" not found at ${join(fixture.dir, 'extra.bin')}`,
      ),
    });
  });

  test('a pin without model.json is refused before fetching', async () => {
    const { 'model.json': _, ...rest } = fixture.pin.digests;
    await expect(fetchVerifiedArtifact({ ...fixture.pin, digests: rest })).rejects.toThrow(
      /lists no digest for model\.json/,
    );
  });
});
