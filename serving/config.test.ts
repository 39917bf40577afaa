import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { addCandidate, emptyLock, pinVersion, versionIdOf, writeLock } from '../lock/index.ts';
import { rootDigest } from '../platform/index.ts';
import { makeEntry } from '../testing/lock/fixtures.ts';
import { loadConfig } from './config.ts';

const digests = {
  'labels.json': 'a'.repeat(64),
  'model.json': 'b'.repeat(64),
  'preprocessing.json': 'c'.repeat(64),
};
const pinEnv = {
  SERVING_MODEL_NAME: 'demo-classifier',
  SERVING_MODEL_VERSION: 'v0a1b2c3d4e5f',
  SERVING_MODEL_URI: '/models/demo/2',
  SERVING_MODEL_DIGESTS: JSON.stringify(digests),
  SERVING_MODEL_SHA256: rootDigest(digests),
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

describe('loadConfig', () => {
  test('the pin variables give one model version, with defaults', async () => {
    const c = await loadConfig(pinEnv);
    expect(c.model).toEqual({
      name: 'demo-classifier',
      version: 'v0a1b2c3d4e5f',
      uri: '/models/demo/2',
      digests,
      sha256: rootDigest(digests),
    });
    expect(c.port).toBe(8080);
    expect(c.batching).toEqual({ maxBatchSize: 32, maxWaitMs: 5, queueCapacity: 256 });
    expect(c.inferenceThread).toBe('worker');
    expect(c.backend).toBeUndefined();
  });

  test('SERVING_INFERENCE_THREAD chooses where inference runs, and only worker or main', async () => {
    expect((await loadConfig({ ...pinEnv, SERVING_INFERENCE_THREAD: 'main' })).inferenceThread).toBe('main');
    await expect(loadConfig({ ...pinEnv, SERVING_INFERENCE_THREAD: 'pool' })).rejects.toThrow(
      /\/SERVING_INFERENCE_THREAD/,
    );
  });

  test('numbers and the backend are parsed', async () => {
    const c = await loadConfig({
      ...pinEnv,
      SERVING_PORT: '9000',
      SERVING_MAX_BATCH_SIZE: '1',
      SERVING_BACKEND: 'wasm',
    });
    expect(c.port).toBe(9000);
    expect(c.batching.maxBatchSize).toBe(1);
    expect(c.backend).toBe('wasm');
  });

  test('bad values are named, every one of them', async () => {
    await expect(
      loadConfig({ ...pinEnv, SERVING_PORT: 'eighty', SERVING_BACKEND: 'gpu', SERVING_MODEL_VERSION: 'v2' }),
    ).rejects.toThrow(/\/SERVING_BACKEND[\s\S]*\/SERVING_MODEL_VERSION[\s\S]*\/SERVING_PORT|\/SERVING_PORT/);
    await expect(loadConfig({ ...pinEnv, SERVING_PORT: '70000' })).rejects.toThrow(
      '/SERVING_PORT: 70000 is out of range 0..65535',
    );
  });

  test('missing pin variables are listed', async () => {
    await expect(loadConfig({ SERVING_MODEL_NAME: 'x' })).rejects.toThrow(
      /missing SERVING_MODEL_VERSION, SERVING_MODEL_URI, SERVING_MODEL_DIGESTS/,
    );
  });

  test('a root digest that does not match the digests is refused', async () => {
    await expect(loadConfig({ ...pinEnv, SERVING_MODEL_SHA256: 'f'.repeat(64) })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });

  test('digests with a path that climbs out of the artifact are refused', async () => {
    const bad = { ...digests, '../etc/passwd': 'd'.repeat(64) };
    await expect(
      loadConfig({
        ...pinEnv,
        SERVING_MODEL_DIGESTS: JSON.stringify(bad),
        SERVING_MODEL_SHA256: rootDigest(bad),
      }),
    ).rejects.toThrow(/SERVING_MODEL_DIGESTS is invalid/);
  });

  test('lock file + environment reads the pin, resolving file: against the lock folder', async () => {
    const c = await loadConfig({
      SERVING_LOCK_FILE: join(dir, 'models.lock.json'),
      SERVING_ENVIRONMENT: 'prod',
    });
    expect(c.model.version).toBe(v1);
    expect(c.model.uri).toBe(join(dir, 'artifacts/demo-classifier/1'));
    const dev = await loadConfig({
      SERVING_LOCK_FILE: join(dir, 'models.lock.json'),
      SERVING_ENVIRONMENT: 'dev',
    });
    expect(dev.model).toMatchObject({ version: v2, uri: 'https://example.test/models/2/' });
  });

  test('an environment without a pin is NOT_FOUND, naming it', async () => {
    await expect(
      loadConfig({ SERVING_LOCK_FILE: join(dir, 'models.lock.json'), SERVING_ENVIRONMENT: 'staging' }),
    ).rejects.toThrow(/model demo-classifier has no pin for environment "staging"/);
  });

  test('both ways at once is a usage error', async () => {
    await expect(
      loadConfig({ ...pinEnv, SERVING_LOCK_FILE: join(dir, 'models.lock.json'), SERVING_ENVIRONMENT: 'dev' }),
    ).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('request limits', () => {
  test('defaults: pixel budgets, JPEG scans, HTTP timeouts and caps', async () => {
    const c = await loadConfig(pinEnv);
    expect(c.limits).toMatchObject({
      maxPixels: 2048 * 2048,
      maxRequestPixels: 4 * 2048 * 2048,
      maxPixelsInFlight: 8 * 2048 * 2048,
      maxJpegScans: 100,
    });
    expect(c.http).toEqual({
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 1024,
      maxHeaderBytes: 16_384,
    });
  });

  test('a larger per-image limit raises the request and process defaults with it', async () => {
    const c = await loadConfig({ ...pinEnv, SERVING_MAX_PIXELS: String(6000 * 6000) });
    expect(c.limits.maxRequestPixels).toBe(6000 * 6000);
    expect(c.limits.maxPixelsInFlight).toBe(2 * 6000 * 6000);
  });

  test('limits that contradict each other are named together', async () => {
    const e = loadConfig({
      ...pinEnv,
      SERVING_HEADERS_TIMEOUT_MS: '20000',
      SERVING_REQUEST_TIMEOUT_MS: '5000',
      SERVING_MAX_PIXELS: '1000',
      SERVING_MAX_REQUEST_PIXELS: '999',
      SERVING_MAX_PIXELS_IN_FLIGHT: '500',
    });
    await expect(e).rejects.toThrow(
      /SERVING_HEADERS_TIMEOUT_MS 20000 is over SERVING_REQUEST_TIMEOUT_MS 5000/,
    );
    await expect(e).rejects.toThrow(/SERVING_MAX_REQUEST_PIXELS 999 is under SERVING_MAX_PIXELS 1000/);
    await expect(e).rejects.toThrow(
      /SERVING_MAX_PIXELS_IN_FLIGHT 500 is under SERVING_MAX_REQUEST_PIXELS 999/,
    );
  });

  test('out-of-range values are named', async () => {
    await expect(
      loadConfig({ ...pinEnv, SERVING_MAX_JPEG_SCANS: '0', SERVING_MAX_HEADER_BYTES: '10' }),
    ).rejects.toThrow(
      /SERVING_MAX_JPEG_SCANS: 0 is out of range 1\.\.10000[\s\S]*SERVING_MAX_HEADER_BYTES: 10 is out of range/,
    );
  });
});
