/**
 * What a model signature says (docs/signing.md): an in-toto Statement whose
 * one subject is `<model>@<version>` with the artifact's root digest, the
 * digest every file of the artifact adds up to (platform/digest.ts
 * rootDigest). Signing that one digest signs every file the lock entry and
 * the pin list. The predicate repeats what the version was made from, for
 * whoever reads the signature alone.
 */
import type { SerializedBundle } from '@sigstore/bundle';
import { ProjectError } from '../../platform/errors.ts';
import { parseNamedJson } from '../../platform/json.ts';
import { compileValidator } from '../../platform/schema.ts';
import { HEX64 } from '../pin.ts';

/** A signature as the lock and the pin carry it: a Sigstore bundle, in its JSON form. */
export type ModelSignature = SerializedBundle;

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const MODEL_PREDICATE_TYPE = 'https://github.com/gitops-ml-template/model-version/v1';

/** The model version a signature is about. */
export interface SignedModel {
  model: string;
  version: string;
  /** Hex sha256 root digest of the artifact (lock `rootDigest`, SERVING_MODEL_SHA256). */
  rootDigest: string;
  /** The commit it was trained from, when known. */
  gitCommit?: string | null;
}

export interface ModelStatement {
  _type: typeof STATEMENT_TYPE;
  subject: [{ name: string; digest: { sha256: string } }];
  predicateType: typeof MODEL_PREDICATE_TYPE;
  predicate: { model: string; version: string; gitCommit: string | null };
}

/** The statement a signer signs for `m`. */
export function modelStatement(m: SignedModel): ModelStatement {
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: `${m.model}@${m.version}`, digest: { sha256: m.rootDigest } }],
    predicateType: MODEL_PREDICATE_TYPE,
    predicate: { model: m.model, version: m.version, gitCommit: m.gitCommit ?? null },
  };
}

const validateStatement = compileValidator<ModelStatement>({
  type: 'object',
  required: ['_type', 'subject', 'predicateType', 'predicate'],
  properties: {
    _type: { const: STATEMENT_TYPE },
    predicateType: { const: MODEL_PREDICATE_TYPE },
    subject: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        required: ['name', 'digest'],
        properties: {
          name: { type: 'string' },
          digest: {
            type: 'object',
            required: ['sha256'],
            properties: { sha256: { type: 'string', pattern: HEX64 } },
          },
        },
      },
    },
    predicate: { type: 'object' },
  },
});

/**
 * Parse the signed payload and check that it names `expected`: the same
 * model, version and root digest.
 * @throws ProjectError INVALID saying what the signature is about instead.
 */
export function checkStatement(payload: Buffer, expected: SignedModel, about: string): ModelStatement {
  const parsed = parseNamedJson(payload.toString('utf8'), `${about}: the signed payload`);
  const statement = validateStatement(parsed, `${about}: the signed statement`);
  const [subject] = statement.subject;
  const want = `${expected.model}@${expected.version}`;
  if (subject.name !== want || subject.digest.sha256 !== expected.rootDigest) {
    throw new ProjectError(
      'INVALID',
      `${about}: the signature is for ${subject.name} (sha256 ${subject.digest.sha256}), not ${want} (sha256 ${expected.rootDigest})`,
      { hint: 'a signature belongs to one version: sign this version itself (docs/signing.md)' },
    );
  }
  return statement;
}

const validateAnyStatement = compileValidator<{
  subject: { name?: string; digest: Record<string, string> }[];
}>({
  type: 'object',
  required: ['_type', 'subject', 'predicateType'],
  properties: {
    _type: { const: STATEMENT_TYPE },
    predicateType: { type: 'string' },
    subject: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', required: ['digest'], properties: { digest: { type: 'object' } } },
    },
  },
});

/**
 * An attestation's statement (any predicate: SLSA build provenance from
 * actions/attest-build-provenance) must name `digest` (hex sha256) among its
 * subjects.
 * @throws ProjectError INVALID naming the digests it is about instead.
 */
export function checkImageStatement(payload: Buffer, digest: string, about: string): void {
  const parsed = parseNamedJson(payload.toString('utf8'), `${about}: the attested payload`);
  const statement = validateAnyStatement(parsed, `${about}: the attested statement`);
  const digests = statement.subject.map((s) => s.digest.sha256 ?? '?');
  if (!digests.includes(digest)) {
    throw new ProjectError(
      'INVALID',
      `${about}: the attestation is for sha256 ${digests.join(', ')}, not sha256 ${digest}`,
      { hint: 'an attestation belongs to one image: promote the image image.yml built and attested' },
    );
  }
}
