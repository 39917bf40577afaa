import { describe, expect, it } from '@jest/globals';
import { encodePath, joinArtifactPath, proxyPathOf } from './artifact-uri.ts';

describe('proxyPathOf', () => {
  it('maps both forms of mlflow-artifacts URIs to the proxy path', () => {
    expect(proxyPathOf('mlflow-artifacts:/1/abc/artifacts')).toBe('1/abc/artifacts');
    expect(proxyPathOf('mlflow-artifacts://mlflow.example:5000/1/abc/artifacts/')).toBe('1/abc/artifacts');
  });

  it('refuses a URI the client cannot write through the server, saying what to do', () => {
    expect(() => proxyPathOf('s3://bucket/1/abc/artifacts')).toThrow(/--serve-artifacts/);
  });
});

describe('paths', () => {
  it('joins without empty segments and encodes each segment', () => {
    expect(joinArtifactPath('model', '', 'sub/./x.png')).toBe('model/sub/x.png');
    expect(encodePath('model/a b#1.json')).toBe('model/a%20b%231.json');
  });
});
