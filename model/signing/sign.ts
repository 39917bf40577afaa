/**
 * Signing a model version (docs/signing.md) with the sigstore JS libraries:
 * a DSSE envelope over the version's in-toto statement (./statement.ts),
 * packed as a Sigstore bundle (JSON). Two signers:
 * - keyless, in GitHub Actions: an ephemeral key, a Fulcio certificate for
 *   the job's OIDC identity (repository, workflow, ref, commit) and a Rekor
 *   transparency-log entry (`MODEL_SIGNING=keyless`; the job needs
 *   `id-token: write`);
 * - a local ECDSA P-256 key (`MODEL_SIGNING_KEY=<PEM file>`): the demo, the
 *   tests, or a team's own key. Its public key goes into the policy.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { bundleToJSON, type SerializedBundle } from '@sigstore/bundle';
// Types only here: the library (and its HTTP stack) loads when a version is signed.
import type { Signer, Witness } from '@sigstore/sign';
import { ProjectError } from '../../platform/errors.ts';
import { userConfigPath } from '../../platform/fs.ts';
import { keyIdOf } from './policy.ts';
import { IN_TOTO_PAYLOAD_TYPE, modelStatement, type SignedModel } from './statement.ts';

/** A signer and the witnesses (transparency log) its signature is recorded with. */
export interface ModelSigner {
  signer: Signer;
  witnesses: Witness[];
  /** Who signs, for messages: `key <id>` or `keyless (GitHub Actions OIDC)`. */
  describe: string;
}

/** Sign with a local private key (PEM, ECDSA P-256); the bundle names the key by its id. */
export function localKeySigner(privateKeyPem: string, source: string): ModelSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (e) {
    throw new ProjectError('INVALID', `${source}: not a PEM private key`, { subject: source, cause: e });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ProjectError('INVALID', `${source}: not an ECDSA P-256 private key`, {
      subject: source,
      hint: 'make one with: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out signing-key.pem',
    });
  }
  const publicKey = createPublicKey(key);
  const hint = keyIdOf(publicKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    describe: `key ${hint.slice(0, 12)}`,
    witnesses: [],
    signer: {
      sign: async (data: Buffer) => ({
        signature: sign('sha256', data, key),
        key: { $case: 'publicKey', publicKey: publicKeyPem, hint },
      }),
    },
  };
}

/** Keyless: Fulcio certificate for the CI job's OIDC identity, Rekor entry. */
export async function keylessSigner(
  opts: { fulcioURL?: string; rekorURL?: string } = {},
): Promise<ModelSigner> {
  const { CIContextProvider, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, FulcioSigner, RekorWitness } =
    await import('@sigstore/sign');
  return {
    describe: 'keyless (the CI job identity, Sigstore)',
    signer: new FulcioSigner({
      identityProvider: new CIContextProvider('sigstore'),
      fulcioBaseURL: opts.fulcioURL ?? DEFAULT_FULCIO_URL,
    }),
    // An `intoto` Rekor entry: the envelope's signature and payload hash, which
    // Rekor v1 and @sigstore/verify both read (model/signing/keyless.e2e.test.ts).
    witnesses: [new RekorWitness({ rekorBaseURL: opts.rekorURL ?? DEFAULT_REKOR_URL, entryType: 'intoto' })],
  };
}

/** The user's own signing key, made by `npm run lock -- trust-key`: `~/.config/gitops-ml/signing-key.pem`. */
export const defaultSigningKeyPath = (env: Record<string, string | undefined>): string =>
  userConfigPath('signing-key.pem', env, env.HOME || homedir());

/**
 * The signer the environment asks for: `MODEL_SIGNING_KEY` (a PEM file),
 * or `MODEL_SIGNING=keyless` (GitHub Actions with `id-token: write`); else,
 * outside GitHub Actions, the user's own key when there is one
 * ({@link defaultSigningKeyPath}); else none (the version stays unsigned;
 * environments whose gates require a signature refuse it).
 */
export async function signerFromEnv(
  env: Record<string, string | undefined>,
): Promise<ModelSigner | undefined> {
  const own = defaultSigningKeyPath(env);
  const keyFile =
    env.MODEL_SIGNING_KEY || (env.GITHUB_ACTIONS !== 'true' && existsSync(own) ? own : undefined);
  if (env.MODEL_SIGNING === 'keyless') {
    if (!env.ACTIONS_ID_TOKEN_REQUEST_URL) {
      throw new ProjectError('USAGE', 'MODEL_SIGNING=keyless needs a GitHub Actions OIDC token', {
        subject: 'MODEL_SIGNING',
        hint: 'give the job `permissions: id-token: write`, or sign with a key: MODEL_SIGNING_KEY=<PEM file>',
      });
    }
    return keylessSigner();
  }
  if (env.MODEL_SIGNING && env.MODEL_SIGNING !== 'key') {
    throw new ProjectError('USAGE', `MODEL_SIGNING=${env.MODEL_SIGNING}: expected keyless or key`, {
      subject: 'MODEL_SIGNING',
    });
  }
  if (!keyFile) return undefined;
  const pem = await readFile(keyFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ProjectError(
      'NOT_FOUND',
      `MODEL_SIGNING_KEY=${keyFile}: cannot read it (${e.code ?? e.message})`,
      {
        subject: 'MODEL_SIGNING_KEY',
        cause: e,
      },
    );
  });
  return localKeySigner(pem, keyFile);
}

/** Sign model version `m`: its statement in a DSSE envelope, as a Sigstore bundle (JSON). */
export function signModel(m: SignedModel, how: ModelSigner): Promise<SerializedBundle> {
  return signStatement(modelStatement(m), `${m.model} ${m.version}`, how);
}

/**
 * Sign any in-toto statement (an image's build attestation, for one) in a
 * DSSE envelope, as a Sigstore bundle (JSON); `what` names it in errors.
 */
export async function signStatement(
  statement: object,
  what: string,
  how: ModelSigner,
): Promise<SerializedBundle> {
  const { DSSEBundleBuilder } = await import('@sigstore/sign');
  const builder = new DSSEBundleBuilder({ signer: how.signer, witnesses: how.witnesses });
  try {
    const bundle = await builder.create({
      data: Buffer.from(JSON.stringify(statement)),
      type: IN_TOTO_PAYLOAD_TYPE,
    });
    return bundleToJSON(bundle);
  } catch (e) {
    throw new ProjectError(
      'UNAVAILABLE',
      `signing ${what} (${how.describe}) failed: ${(e as Error).message}`,
      {
        cause: e,
        hint: 'keyless signing needs Fulcio and Rekor (sigstore.dev) and an OIDC token; a local key needs neither',
      },
    );
  }
}
