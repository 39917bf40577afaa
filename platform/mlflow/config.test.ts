import { describe, expect, it } from '@jest/globals';
import { mlflowConfigFromEnv } from './config.ts';

describe('mlflowConfigFromEnv', () => {
  it('is undefined without a tracking URI (the local store is used)', () => {
    expect(mlflowConfigFromEnv({})).toBeUndefined();
    expect(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: '' })).toBeUndefined();
  });

  it('reads the bearer token, retries and timeout', () => {
    const c = mlflowConfigFromEnv({
      MLFLOW_TRACKING_URI: 'https://mlflow.example/',
      MLFLOW_TRACKING_TOKEN: 'tok-123456',
      MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2',
      MLFLOW_HTTP_REQUEST_TIMEOUT: '30',
    });
    expect(c).toEqual({
      trackingUri: 'https://mlflow.example',
      auth: { kind: 'bearer', token: 'tok-123456' },
      retry: { maxRetries: 2 },
      timeoutMs: 30_000,
    });
  });

  it('moves credentials out of the URL, so that the URL can be printed', () => {
    const c = mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'http://alice:s3cr%40t@127.0.0.1:5000' });
    expect(c?.trackingUri).toBe('http://127.0.0.1:5000');
    expect(c?.auth).toEqual({ kind: 'basic', username: 'alice', password: 's3cr@t' });
  });

  it('names the variable that is wrong', () => {
    expect(() =>
      mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'http://x', MLFLOW_TRACKING_USERNAME: 'a' }),
    ).toThrow('MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set together');
    expect(() => mlflowConfigFromEnv({ MLFLOW_HTTP_REQUEST_MAX_RETRIES: 'many' })).toThrow(
      /MLFLOW_HTTP_REQUEST_MAX_RETRIES/,
    );
    expect(() => mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'file:///tmp/mlruns' })).toThrow(/not http\(s\)/);
  });
});
