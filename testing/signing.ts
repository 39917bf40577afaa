/**
 * Signing in tests (docs/signing.md): a fresh local key, trusted in a
 * repository copy's signing policy, signing the lock entries a test makes,
 * so that promotion's `signed` gate and the servers' check pass as they do
 * for a signed version.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { type LockedVersion, signVersionEntry } from '../lock/index.ts';
import {
  localKeySigner,
  type ModelSigner,
  SIGNING_POLICY_PATH,
  type SignedKind,
  signStatement,
  trustPublicKey,
} from '../model/signing/index.ts';

export interface TestKey {
  privatePem: string;
  publicPem: string;
  signer: ModelSigner;
}

/** A new ECDSA P-256 key, held in memory. */
export function testKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    privatePem,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    signer: localKeySigner(privatePem, 'test key'),
  };
}

/** Trust `key` in the signing policy of the repository (copy) at `root`, to sign `signs` (default models). */
export async function trustTestKey(
  root: string,
  key: TestKey,
  name = 'test key',
  signs?: SignedKind[],
): Promise<void> {
  await trustPublicKey(join(root, SIGNING_POLICY_PATH), name, key.publicPem, signs);
}

/** An attestation of the image `ref` (`…@sha256:<hex>`) as image.yml makes one (SLSA build provenance), signed by `key`. */
export function imageAttestation(ref: string, key: TestKey): Promise<object> {
  const [name, digest] = ref.split('@sha256:') as [string, string];
  return signStatement(
    {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: digest } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: { buildDefinition: { buildType: 'https://actions.github.io/buildtypes/workflow/v1' } },
    },
    `an attestation of ${ref}`,
    key.signer,
  );
}

/** `entry` signed by `key` as a version of `model`. */
export const signedEntry = (entry: LockedVersion, model: string, key: TestKey): Promise<LockedVersion> =>
  signVersionEntry(entry, model, key.signer, () => {});
