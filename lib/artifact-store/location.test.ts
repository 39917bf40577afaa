import { describe, expect, it } from '@jest/globals';
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
        mlflowTrackingUri: 'https://mlflow.example:5000/base/',
      }),
    ).toEqual({
      kind: 'http',
      via: 'mlflow',
      baseUrl: 'https://mlflow.example:5000/base/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model',
    });
    expect(
      resolveArtifactLocation('mlflow-artifacts://other:5001/1/x', {
        mlflowTrackingUri: 'http://127.0.0.1:5000',
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

  it('takes http(s) folder URLs, moving credentials out of the URL', () => {
    expect(resolveArtifactLocation('https://user:p%40ss@host/models/1/')).toEqual({
      kind: 'http',
      via: 'http',
      baseUrl: 'https://host/models/1',
      basicAuth: { username: 'user', password: 'p@ss' },
    });
  });

  it('refuses schemes it cannot fetch, saying which it can', () => {
    expect(() => resolveArtifactLocation('s3://bucket/m/1')).toThrow(
      /artifact URI s3:\/\/bucket\/m\/1: scheme "s3" is not supported\n {2}→ use a local path, file:, mlflow-artifacts:\//,
    );
    expect(() => resolveArtifactLocation('runs:/abc/model')).toThrow(/scheme "runs" is not supported/);
  });
});
