/**
 * A lock entry's signature (docs/signing.md): signed once, before the entry
 * is first written (versions are immutable, so a signature is never added to
 * an entry already in the lock).
 */
import { type ModelSigner, signModel } from '../model/signing/sign.ts';
import { versionIdOf } from './schema.ts';
import type { LockedVersion } from './types.ts';

/**
 * `entry` with its signature, or as it is when there is no signer: then
 * `log` says that environments whose gates say `signed` will refuse it.
 */
export async function signVersionEntry(
  entry: LockedVersion,
  model: string,
  signer: ModelSigner | undefined,
  log: (line: string) => void,
): Promise<LockedVersion> {
  const version = versionIdOf(entry.rootDigest);
  if (!signer) {
    log(
      `signature: ${model} ${version} is unsigned (set MODEL_SIGNING_KEY to a PEM key, or MODEL_SIGNING=keyless in CI); environments whose gates say "signed" refuse it`,
    );
    return entry;
  }
  const signature = await signModel(
    { model, version, rootDigest: entry.rootDigest, gitCommit: entry.gitCommit },
    signer,
  );
  log(`signature: ${model} ${version} signed (${signer.describe})`);
  return { ...entry, signature };
}
