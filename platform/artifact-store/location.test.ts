import { describe, expect, it } from '@jest/globals';
import { fetchArtifactFile } from './fetch.ts';
import { resolveArtifactLocation } from './location.ts';

const base = { baseDir: '/repo' };

describe('resolveArtifactLocation', () => {
  it('resolves paths and file: URIs against the lock folder', () => {
    expect(resolveArtifactLocation('artifacts/m/1', base)).toEqual({
      kind: 'local',
      dir: '/repo/artifacts/m/1',
    });
    expect(resolveArtifactLocation('/data/m/1', base)).toEqual({ kind: 'local', dir: '/data/m/1' });
    expect(resolveArtifactLocation('file:artifacts/m/1', base)).toEqual({
      kind: 'local',
      dir: '/repo/artifacts/m/1',
    });
    expect(resolveArtifactLocation('file:/data/m/1', base)).toEqual({ kind: 'local', dir: '/data/m/1' });
    expect(resolveArtifactLocation('file:///data/m%201', base)).toEqual({ kind: 'local', dir: '/data/m 1' });
  });

  it('maps mlflow-artifacts: URIs onto the tracking server proxy route', () => {
    expect(
      resolveArtifactLocation('mlflow-artifacts:/1/abc/artifacts/model/', {
        mlflow: { trackingUri: 'https://mlflow.example:5000/base/' },
      }),
    ).toEqual({
      kind: 'http',
      via: 'mlflow',
      baseUrl: 'https://mlflow.example:5000/base/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model',
    });
    expect(
      resolveArtifactLocation('mlflow-artifacts://other:5001/1/x', {
        mlflow: { trackingUri: 'http://127.0.0.1:5000' },
      }),
    ).toEqual({
      kind: 'http',
      via: 'mlflow',
      baseUrl: 'http://other:5001/api/2.0/mlflow-artifacts/artifacts/1/x',
    });
    expect(() => resolveArtifactLocation('mlflow-artifacts:/1/x', {})).toThrow(
      expect.objectContaining({
        code: 'INVALID',
        message: expect.stringContaining('set MLFLOW_TRACKING_URI'),
      }),
    );
  });

  it('takes http(s) folder URLs, moving credentials out of the URL (they go to that URL only)', () => {
    expect(resolveArtifactLocation('https://user:p%40ss@host/models/1/')).toEqual({
      kind: 'http',
      via: 'http',
      baseUrl: 'https://host/models/1',
      authorization: `Basic ${Buffer.from('user:p@ss').toString('base64')}`,
    });
  });

  const tracking = {
    trackingUri: 'https://mlflow.example:5000',
    auth: { kind: 'bearer' as const, token: 'tok3n' },
  };

  it('regression: the MLflow token went to any host a lock entry named (mlflow-artifacts://HOST/...)', () => {
    for (const uri of [
      'mlflow-artifacts://attacker.example/1/x',
      'mlflow-artifacts://mlflow.example:5001/1/x', // same host, other port: another origin
      'https://attacker.example/api/2.0/mlflow-artifacts/artifacts/1/x',
      'http://mlflow.example:5000/1/x', // http, not https: another origin
    ]) {
      expect(resolveArtifactLocation(uri, { mlflow: tracking })).not.toHaveProperty('authorization');
    }
  });

  it('sends the MLflow token to the tracking server itself, whichever way the URI names it', () => {
    for (const uri of [
      'mlflow-artifacts:/1/x',
      'mlflow-artifacts://mlflow.example:5000/1/x',
      'https://mlflow.example:5000/api/2.0/mlflow-artifacts/artifacts/1/x',
    ]) {
      expect(resolveArtifactLocation(uri, { mlflow: tracking })).toMatchObject({
        authorization: 'Bearer tok3n',
      });
    }
  });

  it('refuses schemes it cannot fetch, saying which it can', () => {
    expect(() => resolveArtifactLocation('gs://bucket/m/1')).toThrow(
      /artifact URI gs:\/\/bucket\/m\/1: scheme "gs" is not supported\n {2}→ use a local path, file:, mlflow-artifacts:\/ \(through the tracking server\), s3:\/\/ \(the object store\)/,
    );
    expect(() => resolveArtifactLocation('runs:/abc/model')).toThrow(/scheme "runs" is not supported/);
  });

  it('takes s3:// folders in the object store, and refuses credentials in them without printing them', async () => {
    expect(resolveArtifactLocation('s3://models/demo/v1/')).toEqual({
      kind: 's3',
      bucket: 'models',
      prefix: 'demo/v1',
    });
    expect(resolveArtifactLocation('s3://models')).toEqual({ kind: 's3', bucket: 'models', prefix: '' });
    let message = '';
    try {
      resolveArtifactLocation('s3://AKID:s3cr3t-key@models/demo/v1');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split('\n')[0]).toBe('s3://***@models/demo/v1: an s3:// URL carries no credentials');
    expect(message).not.toContain('s3cr3t-key');
    // Without a configured store, reading it says what to set.
    await expect(fetchArtifactFile('s3://models/demo/v1', 'model.json')).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringContaining(
        'artifact URI s3://models/demo/v1 is in the object store, and none is configured\n  → set OBJECT_STORE_ENDPOINT',
      ),
    });
  });
});
