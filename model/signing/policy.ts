/**
 * Who may sign a model version: manifests/base/signing-policy.json, the
 * policy in Git that promotion, the lock's provenance check and the server
 * verify signatures against (docs/signing.md). A signer is either
 * - a GitHub Actions workflow, signing keyless with Sigstore: the
 *   certificate Fulcio issues names the repository, the workflow file and
 *   the ref it ran on, and the commit; or
 * - a public key (ECDSA P-256, PEM): a local key for the demo, tests, or a
 *   team that signs with its own key (a KMS, an HSM).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ProjectError } from '../../platform/errors.ts';
import { readJsonFile } from '../../platform/fs.ts';
import { compileValidator } from '../../platform/schema.ts';

/**
 * The policy's place in the repository (relative to its root): beside the
 * server's base manifests, whose ConfigMap hands it to every model server
 * (SERVING_SIGNING_POLICY), and read from there by promotion and the lock's
 * provenance check. One file for all three.
 */
export const SIGNING_POLICY_PATH = 'manifests/base/signing-policy.json';
/** The OIDC issuer of GitHub Actions' identity tokens (Fulcio's issuer extension). */
export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

/** What a signer may sign: model versions (the default), serving images (their build attestation), or both. */
export type SignedKind = 'models' | 'images';

export interface GithubWorkflowSigner {
  name: string;
  /** Default ["models"]. */
  signs?: SignedKind[];
  githubWorkflow: {
    /** owner/name */
    repository: string;
    /** The workflow file, e.g. `.github/workflows/train.yml`. */
    workflow: string;
    /** The refs it may run on; `*` matches any run of characters but `/`: `refs/pull/*\/merge`. */
    refs: string[];
    /** The OIDC issuer (default GitHub.com's; set it for GitHub Enterprise Server). */
    issuer?: string;
  };
}

export interface PublicKeySigner {
  name: string;
  /** Default ["models"]. */
  signs?: SignedKind[];
  /** PEM of an ECDSA P-256 public key (SPKI). */
  publicKey: string;
}

export type PolicySigner = GithubWorkflowSigner | PublicKeySigner;

export interface SigningPolicy {
  signingPolicyVersion: 1;
  signers: PolicySigner[];
  /** Where the file came from, for messages (set by the loader). */
  source: string;
}

const signs = {
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { enum: ['models', 'images'] },
} as const;

const validatePolicy = compileValidator<Omit<SigningPolicy, 'source'>>({
  type: 'object',
  required: ['signingPolicyVersion', 'signers'],
  additionalProperties: false,
  properties: {
    $comment: { type: 'string' },
    signingPolicyVersion: { const: 1 },
    signers: {
      type: 'array',
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['name', 'githubWorkflow'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', minLength: 1 },
              signs,
              githubWorkflow: {
                type: 'object',
                required: ['repository', 'workflow', 'refs'],
                additionalProperties: false,
                properties: {
                  repository: { type: 'string', pattern: '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$' },
                  workflow: { type: 'string', pattern: '^\\.github/workflows/[A-Za-z0-9_.-]+\\.ya?ml$' },
                  refs: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^refs/' } },
                  issuer: { type: 'string', format: 'uri' },
                },
              },
            },
          },
          {
            type: 'object',
            required: ['name', 'publicKey'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', minLength: 1 },
              signs,
              publicKey: { type: 'string', pattern: '^-----BEGIN PUBLIC KEY-----' },
            },
          },
        ],
      },
    },
  },
});

/** Parse and validate a policy; `source` names it in messages. */
export function parseSigningPolicy(value: unknown, source: string): SigningPolicy {
  const policy = { ...validatePolicy(value, source), source };
  for (const s of policy.signers) if ('publicKey' in s) publicKeyOf(s, source);
  return policy;
}

/** manifests/base/signing-policy.json (or another file), validated. */
export async function loadSigningPolicy(path: string): Promise<SigningPolicy> {
  return parseSigningPolicy(await readJsonFile(path), path);
}

/** The key of a public-key signer. @throws ProjectError INVALID for a PEM that is not a P-256 public key. */
export function publicKeyOf(s: PublicKeySigner, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(s.publicKey);
  } catch (e) {
    throw new ProjectError('INVALID', `${source}: signer "${s.name}": publicKey is not a PEM public key`, {
      subject: source,
      cause: e,
    });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ProjectError('INVALID', `${source}: signer "${s.name}": publicKey is not an ECDSA P-256 key`, {
      subject: source,
      hint: 'make one with: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out signing-key.pem',
    });
  }
  return key;
}

/** The id a bundle names a public key by: hex sha256 of its SPKI DER. */
export function keyIdOf(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** Whether signer `s` may sign `kind`. */
export const signerSigns = (s: PolicySigner, kind: SignedKind): boolean =>
  (s.signs ?? ['models']).includes(kind);

/** Whether `ref` matches `pattern`, where `*` stands for any run of characters other than `/`. */
export function refMatches(pattern: string, ref: string): boolean {
  const re = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${re}$`).test(ref);
}
