/**
 * The client's request timeout ends the call (platform/object-store/client.ts):
 * a real loopback socket that takes the request and never answers stands for
 * a stalled store. Without throwOnRequestTimeout the SDK only logged a warning
 * and the call waited on forever (a console line after the test ended, in CI).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type StalledServer, stalledServer } from '../../testing/stalled-server.ts';
import { ProjectError } from '../errors.ts';
import { createObjectStore } from './index.ts';

let stalled: StalledServer;
let endpoint = '';
beforeAll(async () => {
  stalled = await stalledServer();
  endpoint = stalled.url;
});
afterAll(() => stalled.close());

describe('object store client with a store that takes the request and never answers', () => {
  it('the call fails UNAVAILABLE at its timeout, naming the endpoint, and logs nothing to the console', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const store = createObjectStore(
      {
        endpoint,
        region: 'us-east-1',
        bucket: 'stalled-test',
        forcePathStyle: true,
        credentials: { accessKeyId: 'id', secretAccessKey: 'secret-0123456789' },
      },
      { timeoutMs: 300, maxAttempts: 1 },
    );
    try {
      const e = await store.head('s3://stalled-test/one.json').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ProjectError);
      expect((e as ProjectError).code).toBe('UNAVAILABLE');
      expect((e as ProjectError).message).toContain(`HEAD s3://stalled-test/one.json on ${endpoint}`);
      expect((e as ProjectError).message).toMatch(/ETIMEDOUT|requestTimeout/);
      expect((e as ProjectError).message).not.toContain('secret-0123456789');
      expect(warn).not.toHaveBeenCalled();
    } finally {
      store.close();
      warn.mockRestore();
    }
  });
});
