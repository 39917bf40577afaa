/**
 * The `imageAttested` gate on a real promotion (staging takes dev's image),
 * its attestations read from GitHub's attestations API (the fake server,
 * the real wire format): an image attested by a signer the policy trusts
 * to sign images is pinned; no attestation, an attestation by a key trusted
 * for models only, one of another image, or no API at all refuse it with
 * the reason and change nothing.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { readLock, writeLock } from '../../lock/index.ts';
import { SIGNING_POLICY_PATH } from '../../model/signing/index.ts';
import type { ProjectError } from '../../platform/errors.ts';
import { writeJsonAtomic } from '../../platform/fs.ts';
import { type FakeGithub, startFakeGithub } from '../../testing/fake-github.ts';
import {
  MODEL,
  type PromotionRepo,
  promotionRepo,
  repoContext,
  snapshot,
  testGates,
  testImage,
} from '../../testing/promotion/fixtures.ts';
import { imageAttestation, signedEntry, type TestKey, testKey } from '../../testing/signing.ts';
import { githubImageAttestations } from './image-attestation.ts';
import { promote } from './promote.ts';
import { policySignatureChecker } from './signature.ts';

const TOKEN = 'ghs_test';
const IMAGE = testImage(1);
const DIGEST = IMAGE.split('@sha256:')[1] as string;
const team = testKey();
const builds = testKey();
let github: FakeGithub;
const repos: PromotionRepo[] = [];

beforeAll(async () => {
  github = await startFakeGithub({ token: TOKEN, owner: 'acme', repo: 'ml' });
});
afterAll(async () => {
  await github?.close();
});
afterEach(async () => {
  github.attestations.clear();
  for (const r of repos.splice(0)) await rm(r.root, { recursive: true, force: true });
});

/** SLSA build provenance of the image with `digest`, as actions/attest-build-provenance writes it, signed by `key`. */
const attestation = (key: TestKey, digest = DIGEST) =>
  imageAttestation(`ghcr.io/acme/model-server@sha256:${digest}`, key);

/** dev runs version 1 (signed) with IMAGE; staging's gates say imageAttested; the policy trusts `team` for models, `builds` for images. */
async function repo(): Promise<PromotionRepo> {
  const gates = testGates();
  gates.environments.staging!.gates.imageAttested = true;
  const r = await promotionRepo([0.95], [['dev', 1, IMAGE]], gates);
  repos.push(r);
  await writeJsonAtomic(join(r.root, SIGNING_POLICY_PATH), {
    signingPolicyVersion: 1,
    signers: [
      { name: 'team key', publicKey: team.publicPem },
      { name: 'image builds', signs: ['images'], publicKey: builds.publicPem },
    ],
  });
  const lock = await readLock(r.lockPath);
  const id = r.ids[0] as string;
  lock.models[MODEL]!.versions[id] = await signedEntry(lock.models[MODEL]!.versions[id]!, MODEL, team);
  await writeLock(r.lockPath, lock);
  return r;
}

async function promoteStaging(r: PromotionRepo, api = true) {
  const out: string[] = [];
  const policy = join(r.root, SIGNING_POLICY_PATH);
  const ctx = repoContext(r, {
    by: 'alice',
    print: (t) => out.push(t),
    checkSignature: policySignatureChecker(policy),
    checkImage: githubImageAttestations(
      api ? { token: TOKEN, apiUrl: github.url, owner: 'acme', repo: 'ml' } : undefined,
      policy,
    ),
  });
  const result = await promote({ env: 'staging', model: MODEL }, ctx).catch(
    (e: unknown) => e as ProjectError,
  );
  return { result, out: out.join('') };
}

async function refused(r: PromotionRepo, api = true): Promise<string> {
  const before = await snapshot(r);
  const { result } = await promoteStaging(r, api);
  expect(result).toBeInstanceOf(Error);
  expect((result as ProjectError).code).toBe('GATE_FAILED');
  expect(await snapshot(r)).toEqual(before);
  return (result as ProjectError).message;
}

describe('the imageAttested gate', () => {
  it('pins an image attested by the signer trusted for images, read from the attestations API', async () => {
    const r = await repo();
    github.attestations.set(`sha256:${DIGEST}`, [await attestation(builds)]);
    const { result, out } = await promoteStaging(r);
    expect(result).not.toBeInstanceOf(Error);
    expect(out).toMatch(
      /^imageAttested +an attestation the signing policy trusts +attested by "image builds" \(key [0-9a-f]{12}\) +pass$/m,
    );
    expect(github.requests.map((q) => `${q.method} ${q.path}`)).toContain(
      `GET /repos/acme/ml/attestations/sha256%3A${DIGEST}`, // octokit encodes the colon, as GitHub accepts
    );
  });

  it('refuses an image without an attestation', async () => {
    expect(await refused(await repo())).toContain(
      `imageAttested: expected an attestation the signing policy trusts, got no attestation of ${IMAGE} in acme/ml`,
    );
  });

  it('refuses an attestation by a key the policy trusts for models only, and one of another image', async () => {
    const r = await repo();
    github.attestations.set(`sha256:${DIGEST}`, [
      await attestation(team),
      await attestation(builds, 'f'.repeat(64)),
    ]);
    const message = await refused(r);
    expect(message).toMatch(
      /2 attestation\(s\), none trusted: .*signed by key [0-9a-f]{12}, which .*signing-policy.json \(to sign images\) does not trust/,
    );
    expect(message).toContain(`the attestation is for sha256 ${'f'.repeat(64)}, not sha256 ${DIGEST}`);
  });

  it('without the GitHub API (no GITHUB_REPOSITORY and GITHUB_TOKEN) the gate fails, saying what to set', async () => {
    expect(await refused(await repo(), false)).toContain('no GitHub API to read attestations from');
  });
});
