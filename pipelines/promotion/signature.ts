/**
 * The `signed` gate (docs/signing.md): the candidate's lock entry carries a
 * Sigstore signature of its root digest, and the signer is one the policy in
 * Git trusts (manifests/base/signing-policy.json, model/signing). A version
 * that fails is refused with the reason in the gate table.
 */
import type { Lock } from '../../lock/index.ts';
import { loadSigningPolicy, type SigningPolicy } from '../../model/signing/policy.ts';
import { signatureRefusal, type VerifyOptions, verifyModelSignature } from '../../model/signing/verify.ts';
import { ProjectError } from '../../platform/errors.ts';

/** What the signature check found for one version. */
export interface SignatureCheck {
  ok: boolean;
  /** Who signed, or why the version is refused. */
  detail: string;
}

/** Checks the signature of one version against the policy (side effect passed in). */
export type SignatureChecker = (lock: Lock, model: string, version: string) => Promise<SignatureCheck>;

/** A {@link SignatureChecker} against the policy file `policyPath`, read once on first use. */
export function policySignatureChecker(policyPath: string, opts: VerifyOptions = {}): SignatureChecker {
  let policy: Promise<SigningPolicy> | undefined;
  return async (lock, model, version) => {
    const entry = lock.models[model]?.versions[version];
    if (!entry)
      throw new ProjectError('NOT_FOUND', `model "${model}" has no version "${version}" in the lock`);
    policy ??= loadSigningPolicy(policyPath);
    try {
      const who = await verifyModelSignature(
        entry.signature,
        { model, version, rootDigest: entry.rootDigest, gitCommit: entry.gitCommit },
        await policy,
        opts,
      );
      return {
        ok: true,
        detail: `signed by "${who.signer}" (${who.identity}${who.commit ? ` at ${who.commit.slice(0, 12)}` : ''})`,
      };
    } catch (e) {
      const why = signatureRefusal(e);
      if (why === undefined) throw e;
      return { ok: false, detail: why };
    }
  };
}
