import { describe, expect, it } from '@jest/globals';
import { envSecrets, redactText } from '../redact.ts';
import { describeObjectStore, objectStoreConfigFromEnv, objectStoreEnv, secretsOfStore } from './config.ts';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('objectStoreConfigFromEnv', () => {
  it('is undefined when no OBJECT_STORE_ variable is set, even with AWS credentials', () => {
    expect(objectStoreConfigFromEnv({})).toBeUndefined();
    expect(
      objectStoreConfigFromEnv({ AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: SECRET }),
    ).toBeUndefined();
  });

  it('reads an S3-compatible endpoint with path-style addressing and static credentials', () => {
    const config = objectStoreConfigFromEnv({
      OBJECT_STORE_ENDPOINT: 'http://127.0.0.1:8333/',
      OBJECT_STORE_BUCKET: 'gitops-ml',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: SECRET,
      HOME: '/root',
    });
    expect(config).toEqual({
      endpoint: 'http://127.0.0.1:8333',
      region: 'us-east-1',
      bucket: 'gitops-ml',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET },
      forcePathStyle: true,
    });
    expect(describeObjectStore(config!)).toBe('http://127.0.0.1:8333 (region us-east-1)');
    expect(secretsOfStore(config)).toEqual([SECRET]);
    // The round trip a child process gets (MLflow's server, a script under test).
    expect(objectStoreConfigFromEnv(objectStoreEnv(config!))).toEqual(config);
  });

  it('Amazon S3: a region and no endpoint, virtual-hosted addressing, the default credential chain', () => {
    expect(objectStoreConfigFromEnv({ OBJECT_STORE_REGION: 'eu-west-1' })).toEqual({
      region: 'eu-west-1',
      forcePathStyle: false,
    });
  });

  it('refuses credentials in the endpoint, naming the variable and not the secret', () => {
    let message = '';
    try {
      objectStoreConfigFromEnv({
        OBJECT_STORE_ENDPOINT: `http://AKID:${encodeURIComponent(SECRET)}@store:8333`,
      });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('OBJECT_STORE_ENDPOINT http://store:8333/ carries credentials');
    expect(message).not.toContain('wJalr');
  });

  it('names each wrong variable', () => {
    expect(() => objectStoreConfigFromEnv({ OBJECT_STORE_ENDPOINT: 'store:8333' })).toThrow(
      '/OBJECT_STORE_ENDPOINT: must match pattern "^https?://"',
    );
    expect(() => objectStoreConfigFromEnv({ OBJECT_STORE_ENDPOINT: 'http://store:8333/bucket' })).toThrow(
      'must be an origin (scheme, host, port), without a path or query',
    );
    expect(() => objectStoreConfigFromEnv({ OBJECT_STORE_BUCKET: 'My_Bucket' })).toThrow(
      'OBJECT_STORE_BUCKET: "My_Bucket" is not a bucket name',
    );
    expect(() =>
      objectStoreConfigFromEnv({ OBJECT_STORE_BUCKET: 'data', AWS_ACCESS_KEY_ID: 'AKID' }),
    ).toThrow('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together');
    expect(() =>
      objectStoreConfigFromEnv({ OBJECT_STORE_BUCKET: 'data', AWS_SESSION_TOKEN: 'token-without-key' }),
    ).toThrow('AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID');
  });

  it('its secrets are the ones the scripts redact from every line they print', () => {
    const env = {
      OBJECT_STORE_BUCKET: 'data',
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEXAMPLE',
    };
    expect(envSecrets(env)).toEqual(secretsOfStore(objectStoreConfigFromEnv(env)));
    expect(redactText(`key ${SECRET} token FwoGZXIvYXdzEXAMPLE`, envSecrets(env))).toBe('key *** token ***');
  });
});
