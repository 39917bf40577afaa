/**
 * A local signing key (docs/signing.md#a-local-key): made once, kept
 * private (mode 0600, never in the repository), and trusted by adding its
 * public key to a signing policy. The demo does both in its work folder;
 * `npm run lock -- trust-key` does them for a checkout.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import { readJsonFile, writeJsonAtomic } from '../../platform/fs.ts';
import { keyIdOf, parseSigningPolicy, type SignedKind } from './policy.ts';

/** The private key at `path`, made (ECDSA P-256, PKCS#8 PEM, mode 0600) when there is none; its public key as PEM. */
export async function ensureLocalKey(
  path: string,
): Promise<{ path: string; publicKey: string; made: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let made = false;
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await fh.writeFile(privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await fh.sync();
      made = true;
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const pem = await readFile(path, 'utf8');
  let publicKey: string;
  try {
    publicKey = createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
  } catch (e) {
    throw new ProjectError('INVALID', `${path}: not a PEM key`, { subject: path, cause: e });
  }
  return { path, publicKey, made };
}

/**
 * Add `publicKey` as signer `name` to the policy file `policyPath`
 * (validated before and after; written atomically). Nothing changes when
 * the policy trusts that key already.
 * @returns whether the file changed.
 */
export async function trustPublicKey(
  policyPath: string,
  name: string,
  publicKey: string,
  signs?: SignedKind[],
): Promise<boolean> {
  const raw = (await readJsonFile(policyPath)) as { signers?: unknown[] };
  const policy = parseSigningPolicy(raw, policyPath);
  const id = keyIdOf(createPublicKey(publicKey));
  const known = policy.signers.some((s) => 'publicKey' in s && keyIdOf(createPublicKey(s.publicKey)) === id);
  if (known) return false;
  const next = {
    ...raw,
    signers: [...(raw.signers ?? []), { name, ...(signs ? { signs } : {}), publicKey }],
  };
  parseSigningPolicy(next, policyPath);
  await writeJsonAtomic(policyPath, next);
  return true;
}
