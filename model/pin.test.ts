import { describe, expect, it } from '@jest/globals';
import { rootDigest } from '../platform/digest.ts';
import { PIN_ANNOTATIONS, pinAnnotations, pinEnv, pinFromEnv, pinPatch } from './pin.ts';

const entry = {
  artifactUri: 'mlflow-artifacts:/3/abc/artifacts/model',
  digests: { 'weights.bin': 'b'.repeat(64), 'model.json': 'a'.repeat(64) },
  rootDigest: rootDigest({ 'weights.bin': 'b'.repeat(64), 'model.json': 'a'.repeat(64) }),
};
const VERSION = 'v0a1b2c3d4e5f';

describe('the pin as environment variables', () => {
  it('reads back what pinEnv writes', () => {
    expect(pinFromEnv(pinEnv('demo-classifier', VERSION, entry))).toEqual({
      name: 'demo-classifier',
      version: VERSION,
      uri: entry.artifactUri,
      digests: entry.digests,
      sha256: entry.rootDigest,
    });
  });

  it('names every malformed variable, and a digest key that climbs out of the artifact', () => {
    const env = { ...pinEnv('Demo', 'v2', entry), SERVING_MODEL_SHA256: 'nope' };
    expect(() => pinFromEnv(env)).toThrow(
      /\/SERVING_MODEL_NAME: [\s\S]*\/SERVING_MODEL_VERSION: [\s\S]*\/SERVING_MODEL_SHA256: /,
    );
    const bad = { ...entry.digests, '../etc/passwd': 'd'.repeat(64) };
    expect(() =>
      pinFromEnv({
        ...pinEnv('m', VERSION, { ...entry, digests: bad }),
        SERVING_MODEL_SHA256: rootDigest(bad),
      }),
    ).toThrow('SERVING_MODEL_DIGESTS is invalid:\n  - /: key "../etc/passwd" must match pattern');
  });

  it('lists the missing variables and refuses a root digest that is not the digests', () => {
    expect(() => pinFromEnv({ SERVING_MODEL_NAME: 'm' })).toThrow(
      'serving environment is missing SERVING_MODEL_VERSION, SERVING_MODEL_URI, SERVING_MODEL_DIGESTS',
    );
    const mismatch = (() => {
      try {
        return pinFromEnv({ ...pinEnv('m', VERSION, entry), SERVING_MODEL_SHA256: 'f'.repeat(64) });
      } catch (e) {
        return e;
      }
    })();
    expect(mismatch).toMatchObject({ code: 'DIGEST_MISMATCH', subject: 'SERVING_MODEL_SHA256' });
  });
});

describe('the pin as annotations and file', () => {
  it('the file carries the same variables and annotations, and the image only when given', () => {
    const patch = pinPatch({ model: 'm', version: VERSION, entry }) as {
      spec: { template: { metadata: { annotations: object }; spec: { containers: object[] } } };
    };
    expect(patch.spec.template.metadata.annotations).toEqual(pinAnnotations('m', VERSION, entry));
    expect(patch.spec.template.spec.containers).toEqual([
      {
        name: 'server',
        env: Object.entries(pinEnv('m', VERSION, entry)).map(([name, value]) => ({ name, value })),
      },
    ]);
    const image = 'ghcr.io/acme/model-server@sha256:' + 'e'.repeat(64);
    const withImage = pinPatch({ model: 'm', version: VERSION, entry, image }) as typeof patch;
    expect(withImage.spec.template.spec.containers[0]).toMatchObject({ name: 'server', image });
    expect(Object.keys(pinAnnotations('m', VERSION, entry, { b: 1, a: 2 }))).toContain(
      PIN_ANNOTATIONS.history,
    );
    expect(pinAnnotations('m', VERSION, entry, { b: 1, a: 2 })[PIN_ANNOTATIONS.history]).toBe(
      '{"a":2,"b":1}',
    );
  });
});
