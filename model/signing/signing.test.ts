import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  localKeySigner,
  parseSigningPolicy,
  refMatches,
  type SigningPolicy,
  signerFromEnv,
  signModel,
  verifyModelSignature,
} from './index.ts';

function keyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const model = {
  model: 'demo',
  version: 'v0123456789ab',
  rootDigest: 'ab'.repeat(32),
  gitCommit: 'c'.repeat(40),
};
const trusted = keyPair();
const policy: SigningPolicy = parseSigningPolicy(
  {
    signingPolicyVersion: 1,
    signers: [
      { name: 'team key', publicKey: trusted.publicPem },
      {
        name: 'pull-request training',
        githubWorkflow: {
          repository: 'acme/ml',
          workflow: '.github/workflows/train.yml',
          refs: ['refs/pull/*/merge'],
        },
      },
    ],
  },
  'manifests/base/signing-policy.json',
);

describe('model signatures', () => {
  it('a version signed with a trusted key verifies, and names its signer', async () => {
    const bundle = await signModel(model, localKeySigner(trusted.privatePem, 'key.pem'));
    expect(bundle.mediaType).toMatch(/^application\/vnd\.dev\.sigstore\.bundle/);
    await expect(verifyModelSignature(bundle, model, policy)).resolves.toMatchObject({ signer: 'team key' });
  });

  it('refuses an unsigned version, another version, a changed payload and an untrusted key, with the reason', async () => {
    const bundle = await signModel(model, localKeySigner(trusted.privatePem, 'key.pem'));
    await expect(verifyModelSignature(undefined, model, policy)).rejects.toThrow(
      /demo version v0123456789ab: not signed/,
    );
    await expect(
      verifyModelSignature(bundle, { ...model, rootDigest: 'cd'.repeat(32) }, policy),
    ).rejects.toThrow(
      /the signature is for demo@v0123456789ab \(sha256 abab.*\), not demo@v0123456789ab \(sha256 cdcd/,
    );
    const swapped = JSON.parse(JSON.stringify(bundle));
    const other = await signModel(
      { ...model, rootDigest: 'cd'.repeat(32) },
      localKeySigner(trusted.privatePem, 'key.pem'),
    );
    swapped.dsseEnvelope.payload = other.dsseEnvelope?.payload;
    await expect(
      verifyModelSignature(swapped, { ...model, rootDigest: 'cd'.repeat(32) }, policy),
    ).rejects.toThrow(/the signature does not verify/);
    const stranger = await signModel(model, localKeySigner(keyPair().privatePem, 'other.pem'));
    await expect(verifyModelSignature(stranger, model, policy)).rejects.toThrow(
      /signed by key [0-9a-f]{12}, which manifests\/base\/signing-policy.json does not trust/,
    );
    await expect(verifyModelSignature({ mediaType: 'x' }, model, policy)).rejects.toThrow(
      /not a Sigstore bundle/,
    );
  });

  it('a policy with a malformed signer is refused, naming the file', () => {
    expect(() =>
      parseSigningPolicy(
        { signingPolicyVersion: 1, signers: [{ name: 'k', publicKey: '-----BEGIN PUBLIC KEY-----\nnope' }] },
        'p.json',
      ),
    ).toThrow(/p.json: signer "k": publicKey is not a PEM public key/);
    expect(() =>
      parseSigningPolicy({ signingPolicyVersion: 1, signers: [{ name: 'w', githubWorkflow: {} }] }, 'p.json'),
    ).toThrow(/p.json/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(() =>
      parseSigningPolicy({ signingPolicyVersion: 1, signers: [{ name: 'r', publicKey: rsa }] }, 'p.json'),
    ).toThrow(/not an ECDSA P-256 key/);
  });

  it('refs match with * standing for one path segment', () => {
    expect(refMatches('refs/pull/*/merge', 'refs/pull/12/merge')).toBe(true);
    expect(refMatches('refs/pull/*/merge', 'refs/pull/12/head')).toBe(false);
    expect(refMatches('refs/heads/main', 'refs/heads/main2')).toBe(false);
    expect(refMatches('refs/heads/*', 'refs/heads/a/b')).toBe(false);
  });

  it('the signer comes from the environment: a key file, keyless only with an OIDC token, or none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'signing-'));
    await writeFile(join(dir, 'key.pem'), trusted.privatePem);
    expect((await signerFromEnv({ MODEL_SIGNING_KEY: join(dir, 'key.pem') }))?.describe).toMatch(
      /^key [0-9a-f]{12}$/,
    );
    await expect(signerFromEnv({ HOME: dir })).resolves.toBeUndefined();
    await expect(signerFromEnv({ MODEL_SIGNING: 'keyless' })).rejects.toThrow(
      /needs a GitHub Actions OIDC token/,
    );
    await expect(signerFromEnv({ MODEL_SIGNING_KEY: join(dir, 'missing.pem') })).rejects.toThrow(
      /cannot read it \(ENOENT\)/,
    );
    await writeFile(
      join(dir, 'rsa.pem'),
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    await expect(signerFromEnv({ MODEL_SIGNING_KEY: join(dir, 'rsa.pem') })).rejects.toThrow(
      /not an ECDSA P-256 private key/,
    );
  });
});
