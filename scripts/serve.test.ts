import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { addCandidate, emptyLock, pinVersion, versionIdOf, writeLock } from '../lock/index.ts';
import { rootDigest } from '../platform/index.ts';
import { loadConfig } from '../serving/config.ts';
import { makeEntry } from '../testing/lock/fixtures.ts';
import { pinFromLock } from './serve.ts';

/** `npm run serve`'s configuration: serving's, with the pin from the lock. */
const serveConfig = (env: Record<string, string>) => loadConfig(env, { pinFromLock });

const digests = {
  'labels.json': 'a'.repeat(64),
  'model.json': 'b'.repeat(64),
  'preprocessing.json': 'c'.repeat(64),
};

const digests2 = { ...digests, 'weights.bin': 'd'.repeat(64) };
/** The lock's version ids (content-addressed): v1 local, v2 on an http folder. */
const v1 = versionIdOf(rootDigest(digests));
const v2 = versionIdOf(rootDigest(digests2));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'serving-config-'));
  // A real lock (lock's one schema): version 1 local, version 2 on an http folder.
  let lock = addCandidate(emptyLock(), {
    model: 'demo-classifier',
    entry: makeEntry(digests, { artifactUri: 'file:artifacts/demo-classifier/1' }),
  }).lock;
  lock = addCandidate(lock, {
    model: 'demo-classifier',
    entry: makeEntry(digests2, { artifactUri: 'https://example.test/models/2/' }),
  }).lock;
  lock = pinVersion(lock, {
    model: 'demo-classifier',
    env: 'prod',
    version: v1,
    at: '2026-01-01T00:00:00.000Z',
  });
  lock = pinVersion(lock, {
    model: 'demo-classifier',
    env: 'dev',
    version: v2,
    at: '2026-01-01T00:00:00.000Z',
  });
  await writeLock(join(dir, 'models.lock.json'), lock);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm run serve: the pin from the lock', () => {
  test('lock file + environment reads the pin, resolving file: against the lock folder', async () => {
    const c = await serveConfig({
      SERVING_LOCK_FILE: join(dir, 'models.lock.json'),
      SERVING_ENVIRONMENT: 'prod',
    });
    expect(c.model.version).toBe(v1);
    expect(c.model.uri).toBe(join(dir, 'artifacts/demo-classifier/1'));
    const dev = await serveConfig({
      SERVING_LOCK_FILE: join(dir, 'models.lock.json'),
      SERVING_ENVIRONMENT: 'dev',
    });
    expect(dev.model).toMatchObject({ version: v2, uri: 'https://example.test/models/2/' });
    // With the model's history for the page: where each version runs.
    expect(dev.history).toMatchObject({ model: 'demo-classifier', pins: { prod: v1, dev: v2 } });
  });

  test('an environment without a pin is NOT_FOUND, naming it', async () => {
    await expect(
      serveConfig({ SERVING_LOCK_FILE: join(dir, 'models.lock.json'), SERVING_ENVIRONMENT: 'staging' }),
    ).rejects.toThrow(/model demo-classifier has no pin for environment "staging"/);
  });

  test('a lock file without an environment, or one that is not there, is named', async () => {
    await expect(serveConfig({ SERVING_LOCK_FILE: join(dir, 'models.lock.json') })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('SERVING_LOCK_FILE is set but SERVING_ENVIRONMENT is not'),
    });
    const missing = join(dir, 'nowhere', 'models.lock.json');
    await expect(
      serveConfig({ SERVING_LOCK_FILE: missing, SERVING_ENVIRONMENT: 'dev' }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(`cannot read lock file ${missing}`),
    });
  });

  test('both ways at once is a usage error', async () => {
    await expect(
      serveConfig({
        SERVING_MODEL_URI: '/models/demo/2',
        SERVING_LOCK_FILE: join(dir, 'models.lock.json'),
        SERVING_ENVIRONMENT: 'dev',
      }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('both SERVING_LOCK_FILE and SERVING_MODEL_URI are set'),
    });
  });
});
