/**
 * The `signed` gate on a real promotion: a version without a signature, one
 * signed by a key the policy does not trust, and one signed for another
 * digest are refused with the reason and change nothing; a version signed
 * by a trusted key is pinned, and the gate table names its signer.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { readLock, writeLock } from '../../lock/index.ts';
import { localKeySigner, SIGNING_POLICY_PATH, signModel } from '../../model/signing/index.ts';
import type { ProjectError } from '../../platform/errors.ts';
import { writeJsonAtomic } from '../../platform/fs.ts';
import {
  MODEL,
  type PromotionRepo,
  promotionRepo,
  repoContext,
  snapshot,
  testGates,
} from '../../testing/promotion/fixtures.ts';
import { promote } from './promote.ts';
import { policySignatureChecker } from './signature.ts';

const pem = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
};
const team = pem();

const repos: PromotionRepo[] = [];
afterEach(async () => {
  for (const r of repos.splice(0)) await rm(r.root, { recursive: true, force: true });
});

/** A repo whose dev gates say `signed`, its policy trusting the team key; the newest version signed by `privatePem` (none: unsigned). */
async function repo(privatePem?: string, rootDigest?: string): Promise<PromotionRepo> {
  const gates = testGates();
  for (const env of Object.values(gates.environments)) env.gates.signed = true;
  const r = await promotionRepo([0.95, 0.96], [], gates);
  repos.push(r);
  await writeJsonAtomic(join(r.root, SIGNING_POLICY_PATH), {
    signingPolicyVersion: 1,
    signers: [{ name: 'team key', publicKey: team.publicPem }],
  });
  if (privatePem) {
    const lock = await readLock(r.lockPath);
    const id = r.ids[1] as string;
    const entry = lock.models[MODEL]?.versions[id];
    if (!entry) throw new Error('no entry');
    entry.signature = await signModel(
      { model: MODEL, version: id, rootDigest: rootDigest ?? entry.rootDigest },
      localKeySigner(privatePem, 'key.pem'),
    );
    await writeLock(r.lockPath, lock);
  }
  return r;
}

async function promoteDev(r: PromotionRepo) {
  const out: string[] = [];
  const ctx = repoContext(r, {
    by: 'alice',
    print: (t) => out.push(t),
    checkSignature: policySignatureChecker(join(r.root, SIGNING_POLICY_PATH)),
  });
  const result = await promote({ env: 'dev', model: MODEL }, ctx).catch((e: unknown) => e as ProjectError);
  return { result, out: out.join('') };
}

async function refused(r: PromotionRepo): Promise<{ err: ProjectError; out: string }> {
  const before = await snapshot(r);
  const { result, out } = await promoteDev(r);
  expect(result).toBeInstanceOf(Error);
  expect(await snapshot(r)).toEqual(before);
  const err = result as ProjectError;
  expect(err.code).toBe('GATE_FAILED');
  return { err, out };
}

describe('the signed gate', () => {
  it('pins a version signed by a key the policy trusts, naming the signer in the gate table', async () => {
    const r = await repo(team.privatePem);
    const { result, out } = await promoteDev(r);
    expect(result).not.toBeInstanceOf(Error);
    expect(out).toMatch(
      /^signed +a signer the signing policy trusts +signed by "team key" \(key [0-9a-f]{12}\) +pass$/m,
    );
    expect(await readFile(join(r.environmentsDir, 'dev', 'model-pin.yaml'), 'utf8')).toContain(r.ids[1]);
  });

  it('refuses an unsigned version with the reason, and changes nothing', async () => {
    const { err, out } = await refused(await repo());
    expect(err.message).toContain(
      `  - signed: expected a signer the signing policy trusts, got model ${MODEL} version`,
    );
    expect(err.message).toMatch(/: not signed/);
    expect(out).toMatch(/^signed .* FAIL$/m);
  });

  it('refuses a version signed by a key the policy does not trust', async () => {
    const { err } = await refused(await repo(pem().privatePem));
    expect(err.message).toMatch(/signed by key [0-9a-f]{12}, which .*signing-policy.json does not trust/);
  });

  it("refuses a signature of another digest (a version's signature copied onto another)", async () => {
    const { err } = await refused(await repo(team.privatePem, 'f'.repeat(64)));
    expect(err.message).toMatch(/the signature is for demo-classifier@v[0-9a-f]{12} \(sha256 ffff/);
  });

  it('without a policy file, the promotion stops naming the file', async () => {
    const r = await repo(team.privatePem);
    await rm(join(r.root, SIGNING_POLICY_PATH));
    const { result } = await promoteDev(r);
    expect((result as ProjectError).message).toContain(SIGNING_POLICY_PATH);
  });
});
