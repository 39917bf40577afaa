import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { redactOutput } from './cli.ts';
import { envSecrets, hasCredentials, redactText, safeUrl } from './redact.ts';

describe('safeUrl', () => {
  it('drops user:password and the values of secret query parameters, keeps the rest', () => {
    expect(safeUrl('https://alice:pa55@mlflow.example.com:8443/path?x=1')).toBe(
      'https://mlflow.example.com:8443/path?x=1',
    );
    expect(safeUrl('https://bucket.s3.amazonaws.com/m/model.json?X-Amz-Signature=abc&X-Amz-Expires=60')).toBe(
      'https://bucket.s3.amazonaws.com/m/model.json?X-Amz-Signature=***&X-Amz-Expires=60',
    );
  });

  it('text that is no URL goes through redactText', () => {
    expect(safeUrl('not a url, see https://u:p@h/x')).toBe('not a url, see https://***@h/x');
  });
});

describe('redactText', () => {
  it('removes URL credentials and secret parameters anywhere in the text, and the secrets given', () => {
    expect(
      redactText('GET http://bob:hunter22@10.0.0.1:5000/api?token=abcd&page=2 failed (tok_ABCDEF)', [
        'tok_ABCDEF',
      ]),
    ).toBe('GET http://***@10.0.0.1:5000/api?token=***&page=2 failed (***)');
  });

  it('removes the signature of an AWS SigV4 Authorization header and of a pre-signed S3 URL', () => {
    const sig = 'fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024';
    expect(
      redactText(
        `authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}`,
      ),
    ).toBe(
      'authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=***',
    );
    expect(
      redactText(
        `GET http://127.0.0.1:8333/data/shapes.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261207&X-Amz-Signature=${sig} failed`,
      ),
    ).toBe(
      'GET http://127.0.0.1:8333/data/shapes.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&X-Amz-Signature=*** failed',
    );
  });

  it('replaces the longest secret first, and ignores secrets under 4 characters', () => {
    expect(redactText('abcdef and abcd and ab', ['abcd', 'abcdef', 'ab'])).toBe('*** and *** and ab');
  });
});

describe('envSecrets', () => {
  it('collects the token variables and the password of MLFLOW_TRACKING_URI, plain, decoded and as basic auth', () => {
    const secrets = envSecrets({
      MLFLOW_TRACKING_URI: 'https://alice:p%40ss-word@mlflow.example.com',
      MLFLOW_TRACKING_TOKEN: 'mlflow-token-1',
      GITHUB_TOKEN: 'ghs_abc123',
      HOME: '/root',
    });
    expect(secrets).toEqual([
      'mlflow-token-1',
      'ghs_abc123',
      'p%40ss-word',
      'p@ss-word',
      Buffer.from('alice:p@ss-word').toString('base64'),
    ]);
    expect(envSecrets({ MLFLOW_TRACKING_URI: 'not a url' })).toEqual([]);
  });

  it('collects the Prometheus bearer token and the registry password (issue 23, low)', () => {
    expect(
      envSecrets({
        PROMETHEUS_TOKEN: 'prom-bearer-0123',
        REGISTRY_PASSWORD: 'registry-pass-0123',
        OTHER: 'x1234',
      }),
    ).toEqual(['prom-bearer-0123', 'registry-pass-0123']);
    expect(redactText('Authorization: Bearer prom-bearer-0123', ['prom-bearer-0123'])).not.toContain(
      'prom-bearer',
    );
  });

  it("collects the object store's secret key and session token, not its key id", () => {
    expect(
      envSecrets({
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG',
        AWS_SESSION_TOKEN: 'session-token-1',
      }),
    ).toEqual(['wJalrXUtnFEMI/K7MDENG', 'session-token-1']);
  });
});

describe('hasCredentials', () => {
  it('is true for userinfo or a secret query parameter only', () => {
    expect(hasCredentials('https://u:p@h/x')).toBe(true);
    expect(hasCredentials('https://u@h/x')).toBe(true);
    expect(hasCredentials('https://h/x?sig=1')).toBe(true);
    expect(hasCredentials('https://h/x?page=1')).toBe(false);
    expect(hasCredentials('mlflow-artifacts:/1/abc/artifacts/model')).toBe(false);
    expect(hasCredentials('artifacts/demo')).toBe(false);
  });
});

describe('redactOutput (the last line of defence of every script, platform/cli.ts runMain)', () => {
  it('redacts every chunk written to the stream, strings and bytes', () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    const chunks: string[] = [];
    (stream as unknown as PassThrough).on('data', (c: Buffer) => chunks.push(c.toString()));
    const env = { GITHUB_TOKEN: 'ghs_secret99', AWS_SECRET_ACCESS_KEY: 's3-secret-key-77' };
    redactOutput(env, [stream]);
    redactOutput(env, [stream]); // a second call wraps nothing twice
    stream.write('run at https://alice:pw12@mlflow.example.com/#/runs/1\n');
    stream.write(Buffer.from('token ghs_secret99 in bytes\n'));
    stream.write('object store key s3-secret-key-77\n');
    stream.write(Buffer.from('plain\n'));
    expect(chunks).toEqual([
      'run at https://***@mlflow.example.com/#/runs/1\n',
      'token *** in bytes\n',
      'object store key ***\n',
      'plain\n',
    ]);
  });
});
