/**
 * Keyless signing as the training workflow does it, and the policy check of
 * its identity: an OIDC token from the job (Actions' token endpoint), a
 * certificate from Fulcio naming the workflow, repository, ref and commit,
 * an entry in Rekor; then verification against Sigstore's trusted root and
 * the signing policy. Fulcio and Rekor cannot run here (no internet, no
 * Trillian): the sigstore project's own reference implementations of their
 * APIs (@sigstore/mock's handlers, a real CA, a real log key) answer on a
 * local HTTP server, speaking the real wire format to the real
 * @sigstore/sign and @sigstore/verify.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, rekorHandler } from '@sigstore/mock';
import { HashAlgorithm, PublicKeyDetails, type TrustedRoot } from '@sigstore/protobuf-specs';
import {
  GITHUB_ACTIONS_ISSUER,
  keylessSigner,
  parseSigningPolicy,
  signModel,
  verifyModelSignature,
} from './index.ts';

const REPOSITORY = 'acme/ml';
const SHA = 'c0ffee'.repeat(6) + 'c0ff';
const model = { model: 'demo', version: 'v0123456789ab', rootDigest: '34'.repeat(32) };

let server: Server;
let base = '';
let trustedRoot: TrustedRoot;
/** The job's OIDC claims: what Fulcio puts into the certificate (the SAN is `https://github.com/` + job_workflow_ref). */
let claims: Record<string, string> = {};

const jwt = (c: Record<string, string>) =>
  [{ alg: 'none', typ: 'JWT' }, c]
    .map((p) => Buffer.from(JSON.stringify(p)).toString('base64url'))
    .join('.') + '.';

const jobClaims = (ref: string, workflow = '.github/workflows/train.yml') => ({
  iss: GITHUB_ACTIONS_ISSUER,
  aud: 'sigstore',
  sub: `repo:${REPOSITORY}:ref:${ref}`,
  san: `https://github.com/${REPOSITORY}/${workflow}@${ref}`,
  repository: REPOSITORY,
  ref,
  sha: SHA,
  job_workflow_ref: `${REPOSITORY}/${workflow}@${ref}`,
  event_name: 'pull_request_target',
});

beforeAll(async () => {
  const keyPair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ctlog = await initializeCTLog(keyPair());
  const ca = await initializeCA(keyPair(), ctlog);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', async () => {
      if (req.method === 'GET' && req.url?.startsWith('/token')) {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ value: jwt(claims) }));
        return;
      }
      const handler =
        req.url === '/api/v2/signingCert'
          ? fulcioHandler(ca, { subjectClaim: 'san' })
          : req.url === '/api/v1/log/entries'
            ? rekorHandler(tlog)
            : undefined;
      if (!handler) {
        res.writeHead(404).end();
        return;
      }
      const r = await handler.fn(body);
      res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'text/plain' }).end(r.response);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tlog = await initializeTLog(base, keyPair());
  const start = new Date(Date.now() - 60_000);
  trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [
      {
        subject: { commonName: 'sigstore', organization: 'sigstore.mock' },
        uri: base,
        certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer) }] },
        validFor: { start },
        operator: 'test',
      },
    ],
    tlogs: [
      {
        baseUrl: base,
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: {
          rawBytes: tlog.publicKey,
          keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
          validFor: { start },
        },
        logId: { keyId: createHash('sha256').update(tlog.publicKey).digest() },
        operator: 'test',
      },
    ],
    ctlogs: [
      {
        baseUrl: base,
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: {
          rawBytes: ctlog.publicKey,
          keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
          validFor: { start },
        },
        logId: { keyId: Buffer.from(ctlog.logID.buffer) },
        operator: 'test',
      },
    ],
    timestampAuthorities: [],
  } as unknown as TrustedRoot;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

/** Sign `model` as a job whose OIDC claims are `c` (Actions' token endpoint, then Fulcio and Rekor). */
async function signAs(c: Record<string, string>) {
  claims = c;
  const saved = {
    url: process.env.ACTIONS_ID_TOKEN_REQUEST_URL,
    token: process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
  };
  process.env.ACTIONS_ID_TOKEN_REQUEST_URL = `${base}/token?x=1`;
  process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'job-token';
  try {
    return await signModel(model, await keylessSigner({ fulcioURL: base, rekorURL: base }));
  } finally {
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = saved.url;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = saved.token;
    if (saved.url === undefined) delete process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    if (saved.token === undefined) delete process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  }
}

const policy = (refs: string[], repository = REPOSITORY, workflow = '.github/workflows/train.yml') =>
  parseSigningPolicy(
    {
      signingPolicyVersion: 1,
      signers: [{ name: 'pull-request training', githubWorkflow: { repository, workflow, refs } }],
    },
    'manifests/base/signing-policy.json',
  );
const verify = (bundle: unknown, p = policy(['refs/heads/main'])) =>
  verifyModelSignature(bundle, model, p, { trustedRoot: async () => trustedRoot });

describe('keyless signatures: the workflow identity in the certificate, checked against the policy', () => {
  it('a signature of train.yml on main, in this repository, verifies and names the workflow and the commit', async () => {
    const bundle = await signAs(jobClaims('refs/heads/main'));
    expect(bundle.verificationMaterial?.tlogEntries).toHaveLength(1);
    await expect(verify(bundle)).resolves.toEqual({
      signer: 'pull-request training',
      identity: `https://github.com/${REPOSITORY}/.github/workflows/train.yml@refs/heads/main`,
      commit: SHA,
    });
  });

  it('another ref, another workflow or another repository is refused, naming the identity', async () => {
    const onBranch = await signAs(jobClaims('refs/heads/evil'));
    await expect(verify(onBranch)).rejects.toThrow(
      `signed by https://github.com/${REPOSITORY}/.github/workflows/train.yml@refs/heads/evil, which manifests/base/signing-policy.json does not trust`,
    );
    const otherWorkflow = await signAs(jobClaims('refs/heads/main', '.github/workflows/ci.yml'));
    await expect(verify(otherWorkflow)).rejects.toThrow(/ci\.yml@refs\/heads\/main, which .* does not trust/);
    await expect(
      verify(await signAs(jobClaims('refs/heads/main')), policy(['refs/heads/main'], 'acme/other')),
    ).rejects.toThrow(/does not trust/);
    // The ref patterns of the policy: a pull request's merge ref, when the policy lists it.
    const pr = await signAs(jobClaims('refs/pull/7/merge'));
    await expect(verify(pr, policy(['refs/pull/*/merge']))).resolves.toMatchObject({
      signer: 'pull-request training',
    });
  });

  it('a certificate from another issuer, or a bundle whose log entry was removed, is refused', async () => {
    const foreign = await signAs({ ...jobClaims('refs/heads/main'), iss: 'https://accounts.example.com' });
    await expect(verify(foreign)).rejects.toThrow(/does not trust/);
    const bundle = await signAs(jobClaims('refs/heads/main'));
    const stripped = structuredClone(bundle);
    stripped.verificationMaterial!.tlogEntries = [];
    await expect(verify(stripped)).rejects.toThrow(/the signature does not verify/);
  });

  it('without a workflow signer in the policy, a keyless signature is refused before any lookup', async () => {
    const bundle = await signAs(jobClaims('refs/heads/main'));
    const keysOnly = parseSigningPolicy({ signingPolicyVersion: 1, signers: [] }, 'p.json');
    await expect(
      verifyModelSignature(bundle, model, keysOnly, {
        trustedRoot: async () => {
          throw new Error('must not be fetched');
        },
      }),
    ).rejects.toThrow('signed keyless, and p.json trusts no workflow');
  });
});
