/**
 * A local key from end to end: `npm run lock -- trust-key` makes the user's
 * key (private, 0600) and trusts it in the policy; training then signs with
 * it without being told (outside Actions), and that signature verifies
 * against the policy the command wrote.
 */
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { main as lock } from '../../scripts/lock.ts';
import {
  defaultSigningKeyPath,
  loadSigningPolicy,
  signerFromEnv,
  signModel,
  verifyModelSignature,
} from './index.ts';

const model = { model: 'demo', version: 'v0123456789ab', rootDigest: '12'.repeat(32) };

async function fixture() {
  const home = await mkdtemp(join(tmpdir(), 'trust-key-'));
  const policy = join(home, 'repo', 'manifests', 'base', 'signing-policy.json');
  await mkdir(join(home, 'repo', 'manifests', 'base'), { recursive: true });
  await writeFile(policy, JSON.stringify({ signingPolicyVersion: 1, signers: [] }));
  const out: string[] = [];
  const run = (...argv: string[]) =>
    lock(argv, { cwd: join(home, 'repo'), env: { HOME: home }, print: (t) => out.push(t) });
  return { home, policy, out, run };
}

describe('a local signing key', () => {
  it('trust-key makes the key (0600), trusts it, and training signs with it by default', async () => {
    const { home, policy, out, run } = await fixture();
    expect(await run('trust-key', '--name', "alice's laptop")).toBe(0);
    const keyPath = defaultSigningKeyPath({ HOME: home });
    expect(keyPath).toBe(join(home, '.config', 'gitops-ml', 'signing-key.pem'));
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect(out.join('')).toContain(`made the signing key ${keyPath}`);
    expect(out.join('')).toContain(`as "alice's laptop"`);
    const signer = await signerFromEnv({ HOME: home });
    expect(signer?.describe).toMatch(/^key [0-9a-f]{12}$/);
    const who = await verifyModelSignature(
      await signModel(model, signer!),
      model,
      await loadSigningPolicy(policy),
    );
    expect(who.signer).toBe("alice's laptop");
    // In GitHub Actions the user's key is never picked up: CI signs keyless or with a named key.
    await expect(signerFromEnv({ HOME: home, GITHUB_ACTIONS: 'true' })).resolves.toBeUndefined();
  });

  it('a second run changes nothing and says so; a named key is used as it is', async () => {
    const { home, policy, out, run } = await fixture();
    await run('trust-key', '--name', 'a');
    const before = await readFile(policy, 'utf8');
    out.length = 0;
    expect(await run('trust-key', '--name', 'a')).toBe(0);
    expect(out.join('')).toContain('trusts it already');
    expect(await readFile(policy, 'utf8')).toBe(before);
    out.length = 0;
    expect(await run('trust-key', '--name', 'ci key', '--key', join(home, 'ci.pem'))).toBe(0);
    expect(out.join('')).toContain(`sign with it: export MODEL_SIGNING_KEY=${join(home, 'ci.pem')}`);
    expect((await loadSigningPolicy(policy)).signers.map((s) => s.name)).toEqual(['a', 'ci key']);
  });

  it('without --name it is a usage error, and a broken policy is left as it was', async () => {
    const { policy, run } = await fixture();
    await expect(run('trust-key')).rejects.toMatchObject({ code: 'USAGE' });
    await writeFile(policy, '{"signingPolicyVersion": 2}');
    await expect(run('trust-key', '--name', 'a')).rejects.toThrow(/signing-policy.json/);
    expect(await readFile(policy, 'utf8')).toBe('{"signingPolicyVersion": 2}');
  });
});
