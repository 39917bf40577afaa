import { describe, expect, test } from '@jest/globals';
import { rootDigest } from '../platform/index.ts';
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
    // Bad configuration: the process exits 2 (serving/run.ts), as for an out-of-range number.
    await expect(loadConfig({ ...pinEnv, SERVING_INFERENCE_THREAD: 'pool' })).rejects.toMatchObject({
      code: 'USAGE',
    });
    await expect(loadConfig({ ...pinEnv, SERVING_PORT: '70000' })).rejects.toMatchObject({ code: 'USAGE' });
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

  test('SERVING_LOCK_FILE is for npm run serve: serving alone refuses it, naming who reads it', async () => {
    await expect(
      loadConfig({ SERVING_LOCK_FILE: 'models.lock.json', SERVING_ENVIRONMENT: 'dev' }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('SERVING_LOCK_FILE is read by `npm run serve` (scripts/serve.ts)'),
    });
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

describe('feedback ids and payload capture', () => {
  const store = { OBJECT_STORE_ENDPOINT: 'http://127.0.0.1:8333', OBJECT_STORE_BUCKET: 'gitops-ml' };

  test('capture samples at SERVING_CAPTURE_SAMPLE only with a store and its bucket; off otherwise', async () => {
    const on = await loadConfig({
      ...pinEnv,
      ...store,
      SERVING_CAPTURE_SAMPLE: '0.1',
      HOSTNAME: 'model-server-7f9c/x',
    });
    expect(on.capture).toEqual({
      sample: 0.1,
      maxImageBytes: 1024 * 1024,
      maxQueueBytes: 32 * 1024 * 1024,
      maxQueueRecords: 10_000,
      batchRecords: 500,
      flushMs: 5000,
    });
    expect(on.pod).toBe('model-server-7f9c_x');
    expect((await loadConfig({ ...pinEnv, SERVING_CAPTURE_SAMPLE: '1.0' })).capture.sample).toBe(0);
    expect((await loadConfig({ ...pinEnv, ...store })).capture.sample).toBe(0);
  });

  test('a sample outside 0..1 and a short id key are named', async () => {
    await expect(
      loadConfig({ ...pinEnv, SERVING_CAPTURE_SAMPLE: '1.5', SERVING_ID_KEY: 'short' }),
    ).rejects.toThrow(
      /SERVING_CAPTURE_SAMPLE[\s\S]*SERVING_ID_KEY|SERVING_ID_KEY[\s\S]*SERVING_CAPTURE_SAMPLE/,
    );
    const c = await loadConfig({
      ...pinEnv,
      SERVING_ID_KEY: 'k'.repeat(32),
      SERVING_FEEDBACK_TOKEN: 't'.repeat(16),
    });
    expect(c.feedback).toMatchObject({ idKey: 'k'.repeat(32), token: 't'.repeat(16) });
  });
});

describe('SERVING_SIGNING_POLICY', () => {
  const policy = { signingPolicyVersion: 1, signers: [] };
  test('is the policy JSON itself (as the ConfigMap sets it) or a file with it', async () => {
    const inline = await loadConfig({ ...pinEnv, SERVING_SIGNING_POLICY: `\n${JSON.stringify(policy)}` });
    expect(inline.signing?.policy).toMatchObject({ signers: [], source: 'SERVING_SIGNING_POLICY' });
    const fromFile = await loadConfig(
      { ...pinEnv, SERVING_SIGNING_POLICY: '/etc/policy.json' },
      { readText: async (p) => (p === '/etc/policy.json' ? JSON.stringify(policy) : '') },
    );
    expect(fromFile.signing?.policy.source).toBe('/etc/policy.json');
    expect((await loadConfig(pinEnv)).signing).toBeUndefined();
  });

  test('a policy that fails its schema, or a file that is not there, is refused naming it', async () => {
    await expect(
      loadConfig({ ...pinEnv, SERVING_SIGNING_POLICY: JSON.stringify({ signingPolicyVersion: 2 }) }),
    ).rejects.toThrow(/SERVING_SIGNING_POLICY/);
    await expect(
      loadConfig(
        { ...pinEnv, SERVING_SIGNING_POLICY: '/nowhere.json' },
        {
          readText: async () => {
            throw new Error('ENOENT');
          },
        },
      ),
    ).rejects.toThrow(/SERVING_SIGNING_POLICY \/nowhere.json cannot be read/);
  });
});
