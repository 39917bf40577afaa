/**
 * Verifying a model signature against the policy in Git (docs/signing.md),
 * with @sigstore/verify: the bundle's signature over its statement, the
 * statement naming exactly this version's root digest, and the signer one
 * the policy trusts. Keyless signatures also need Sigstore's trusted root
 * (Fulcio's CA, Rekor's key), fetched through TUF unless given.
 */
import type { KeyObject } from 'node:crypto';
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  type SignedEntity,
  type TrustMaterial,
  toSignedEntity,
  toTrustMaterial,
  Verifier,
} from '@sigstore/verify';
import { ProjectError } from '../../platform/errors.ts';
import {
  GITHUB_ACTIONS_ISSUER,
  type GithubWorkflowSigner,
  keyIdOf,
  type PublicKeySigner,
  publicKeyOf,
  refMatches,
  type SignedKind,
  type SigningPolicy,
  signerSigns,
} from './policy.ts';
import { checkImageStatement, checkStatement, IN_TOTO_PAYLOAD_TYPE, type SignedModel } from './statement.ts';

/** Who signed, as the policy knows them. */
export interface VerifiedSignature {
  /** The policy entry's name. */
  signer: string;
  /** The key id, or the certificate's identity (workflow URI with its ref). */
  identity: string;
  /** Keyless: the commit the workflow ran on (Fulcio's source repository digest). */
  commit?: string;
}

export interface VerifyOptions {
  /** Sigstore's trusted root for keyless signatures (default: fetched with @sigstore/tuf). */
  trustedRoot?: () => Promise<TrustedRoot>;
}

/** Fulcio's certificate extensions: https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md */
const OID_SOURCE_REPOSITORY_URI = '1.3.6.1.4.1.57264.1.12';
const OID_SOURCE_REPOSITORY_DIGEST = '1.3.6.1.4.1.57264.1.13';

const refuse = (about: string, why: string, hint: string, cause?: unknown): ProjectError =>
  new ProjectError('INVALID', `${about}: ${why}`, { hint, ...(cause ? { cause } : {}) });

function parseBundle(value: unknown, about: string): Bundle {
  if (value === undefined || value === null) {
    throw refuse(
      about,
      'not signed',
      'sign it when it is trained (MODEL_SIGNING=keyless in CI, MODEL_SIGNING_KEY locally) and train it again (docs/signing.md)',
    );
  }
  try {
    return bundleFromJSON(value);
  } catch (e) {
    throw refuse(
      about,
      `the signature is not a Sigstore bundle (${(e as Error).message})`,
      'sign the version again',
      e,
    );
  }
}

function publicKeyTrust(signers: PublicKeySigner[], source: string): TrustMaterial {
  const keys = new Map<string, KeyObject>();
  for (const s of signers) {
    const key = publicKeyOf(s, source);
    keys.set(keyIdOf(key), key);
  }
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: (hint: string) => {
      const key = keys.get(hint);
      if (!key) throw new Error(`key ${hint} is not in the policy`);
      return { publicKey: key, validFor: () => true };
    },
  };
}

/** The UTF-8 text of a Fulcio v2 extension value (a DER UTF8String). */
function derText(value: Buffer): string {
  if (value[0] === 0x0c && value.length >= 2) {
    const lenByte = value[1] as number;
    const [len, start] =
      lenByte < 0x80 ? [lenByte, 2] : [value.readUIntBE(2, lenByte & 0x7f), 2 + (lenByte & 0x7f)];
    return value.subarray(start, start + len).toString('utf8');
  }
  return value.toString('utf8');
}

/** The policy entry a keyless certificate's identity matches, and the commit it names. */
function matchWorkflow(
  identity: {
    subjectAlternativeName?: string;
    extensions?: { issuer?: string };
    oids?: { oid?: { id: number[] }; value: Buffer }[];
  },
  signers: GithubWorkflowSigner[],
): VerifiedSignature | undefined {
  const san = identity.subjectAlternativeName ?? '';
  const oid = (id: string) => {
    const hit = identity.oids?.find((o) => o.oid?.id.join('.') === id);
    return hit ? derText(Buffer.from(hit.value)) : undefined;
  };
  for (const s of signers) {
    const w = s.githubWorkflow;
    if ((identity.extensions?.issuer ?? '') !== (w.issuer ?? GITHUB_ACTIONS_ISSUER)) continue;
    const prefix = `https://github.com/${w.repository}/${w.workflow}@`;
    if (!san.startsWith(prefix)) continue;
    const ref = san.slice(prefix.length);
    if (!w.refs.some((p) => refMatches(p, ref))) continue;
    const repoUri = oid(OID_SOURCE_REPOSITORY_URI);
    if (repoUri !== undefined && repoUri !== `https://github.com/${w.repository}`) continue;
    const commit = oid(OID_SOURCE_REPOSITORY_DIGEST);
    return { signer: s.name, identity: san, ...(commit ? { commit } : {}) };
  }
  return undefined;
}

/** What a refusal calls the policy: its source, and for images what it is trusted for. */
const trustIn = (policy: SigningPolicy, kind: SignedKind): string =>
  kind === 'models' ? policy.source : `${policy.source} (to sign images)`;

async function verifyKeyless(
  entity: SignedEntity,
  policy: SigningPolicy,
  kind: SignedKind,
  about: string,
  opts: VerifyOptions,
): Promise<VerifiedSignature> {
  const workflows = policy.signers.filter(
    (s): s is GithubWorkflowSigner => 'githubWorkflow' in s && signerSigns(s, kind),
  );
  if (!workflows.length) {
    throw refuse(
      about,
      `signed keyless, and ${trustIn(policy, kind)} trusts no workflow`,
      kind === 'models' ? 'add the training workflow to the policy' : 'add the image workflow to the policy',
    );
  }
  let root: TrustedRoot;
  try {
    root = await (opts.trustedRoot ?? (async () => (await import('@sigstore/tuf')).getTrustedRoot()))();
  } catch (e) {
    throw new ProjectError(
      'UNAVAILABLE',
      `${about}: Sigstore's trusted root could not be fetched (${(e as Error).message})`,
      {
        cause: e,
        hint: 'keyless verification needs https://tuf-repo-cdn.sigstore.dev once (then its cache under ~/.sigstore)',
      },
    );
  }
  let signer: ReturnType<Verifier['verify']>;
  try {
    signer = new Verifier(toTrustMaterial(root)).verify(entity);
  } catch (e) {
    throw refuse(
      about,
      `the signature does not verify (${(e as Error).message})`,
      'sign the version again',
      e,
    );
  }
  const hit = matchWorkflow(signer.identity ?? {}, workflows);
  if (!hit) {
    const who = signer.identity?.subjectAlternativeName ?? 'an unnamed identity';
    throw refuse(
      about,
      `signed by ${who}, which ${trustIn(policy, kind)} does not trust`,
      `trust that workflow and ref in ${policy.source} through a reviewed pull request, or train the version with a trusted one`,
    );
  }
  return hit;
}

function verifyWithKey(
  entity: SignedEntity,
  policy: SigningPolicy,
  kind: SignedKind,
  about: string,
  hint: string,
): VerifiedSignature {
  const keys = policy.signers.filter((s): s is PublicKeySigner => 'publicKey' in s && signerSigns(s, kind));
  const named = keys.find((s) => keyIdOf(publicKeyOf(s, policy.source)) === hint);
  if (!named) {
    throw refuse(
      about,
      `signed by key ${hint.slice(0, 12)}, which ${trustIn(policy, kind)} does not trust`,
      `add its public key to ${policy.source} through a reviewed pull request, or sign with a trusted key`,
    );
  }
  try {
    new Verifier(publicKeyTrust(keys, policy.source), {
      tlogThreshold: 0,
      ctlogThreshold: 0,
      timestampThreshold: 0,
    }).verify(entity);
  } catch (e) {
    throw refuse(
      about,
      `the signature does not verify with key ${hint.slice(0, 12)} (${(e as Error).message})`,
      'sign the version again',
      e,
    );
  }
  return { signer: named.name, identity: `key ${hint.slice(0, 12)}` };
}

/**
 * The DSSE envelope's payload of `bundle`, its signature verified and its
 * signer one `policy` trusts to sign `kind`; `checkPayload` checks what the
 * statement says before the signature is looked at.
 */
async function verifyBundle(
  bundle: unknown,
  about: string,
  policy: SigningPolicy,
  kind: SignedKind,
  checkPayload: (payload: Buffer) => void,
  opts: VerifyOptions,
): Promise<VerifiedSignature> {
  const parsed = parseBundle(bundle, about);
  if (
    parsed.content.$case !== 'dsseEnvelope' ||
    parsed.content.dsseEnvelope.payloadType !== IN_TOTO_PAYLOAD_TYPE
  ) {
    throw refuse(
      about,
      'the signature is not an in-toto statement in a DSSE envelope',
      'sign it with npm run train, the training workflow, or image.yml',
    );
  }
  checkPayload(Buffer.from(parsed.content.dsseEnvelope.payload));
  const entity = toSignedEntity(parsed);
  if (entity.key.$case === 'public-key') return verifyWithKey(entity, policy, kind, about, entity.key.hint);
  return verifyKeyless(entity, policy, kind, about, opts);
}

/**
 * Check that `bundle` (a Sigstore bundle, JSON) signs exactly model version
 * `m` and that its signer is one `policy` trusts.
 * @throws ProjectError INVALID with the reason (not signed, another
 *   version's signature, a bad signature, an untrusted signer); UNAVAILABLE
 *   when Sigstore's trusted root cannot be had for a keyless signature.
 */
export function verifyModelSignature(
  bundle: unknown,
  m: SignedModel,
  policy: SigningPolicy,
  opts: VerifyOptions = {},
): Promise<VerifiedSignature> {
  const about = `model ${m.model} version ${m.version}`;
  return verifyBundle(bundle, about, policy, 'models', (p) => checkStatement(p, m, about), opts);
}

/**
 * Check that `bundle` is an attestation of the image with digest
 * `sha256:<digest>` (an in-toto statement naming that digest among its
 * subjects, as actions/attest-build-provenance makes), signed by a signer
 * `policy` trusts to sign images.
 * @throws ProjectError INVALID with the reason; UNAVAILABLE as above.
 */
export function verifyImageAttestation(
  bundle: unknown,
  image: { ref: string; digest: string },
  policy: SigningPolicy,
  opts: VerifyOptions = {},
): Promise<VerifiedSignature> {
  const about = `image ${image.ref}`;
  return verifyBundle(
    bundle,
    about,
    policy,
    'images',
    (p) => checkImageStatement(p, image.digest, about),
    opts,
  );
}

/**
 * The reason a signature was refused, on one line (the message, then what to
 * do), when `e` is such a refusal (INVALID from {@link verifyModelSignature});
 * undefined for any other error, which the caller rethrows.
 */
export function signatureRefusal(e: unknown): string | undefined {
  if (!(e instanceof ProjectError) || e.code !== 'INVALID') return undefined;
  return e.message.replace(/\n\s*→ /g, ' → ');
}
