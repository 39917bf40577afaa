/**
 * The JSON Schema of models.lock.json and the cross-checks a schema cannot
 * express (every pin and promotion names an existing version, the last
 * promotion of an environment is its pin, rootDigest adds up). Compiled once,
 * at module load. Format: docs/lock-file.md.
 */

import { GIT_COMMIT, promotionSchema } from '../model/history.ts';
import {
  digestsSchema,
  ENV_NAME_PATTERN,
  HEX64,
  MODEL_NAME_PATTERN,
  VERSION_ID_LENGTH,
  VERSION_ID_PATTERN,
} from '../model/pin.ts';
import { rootDigest } from '../platform/digest.ts';
import { isProjectError, ProjectError } from '../platform/errors.ts';
import { jsonPointer } from '../platform/json-text.ts';
import { hasCredentials } from '../platform/redact.ts';
import { compileValidator } from '../platform/schema.ts';
import type { Lock, LockedVersion, LockIndex } from './types.ts';

/** The promotion record (its schema is model/history.ts, shared with the model history the pin carries). */
export { REVERT_REASON_MAX } from '../model/history.ts';
export { ENV_NAME_PATTERN } from '../model/pin.ts';

const PREFIXED_SHA256 = '^sha256:[0-9a-f]{64}$';

/** One version entry: the content of `models.lock.d/<model>/<version>.json`. */
export const versionSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'artifactUri',
    'createdAt',
    'datasetDigest',
    'digests',
    'gitCommit',
    'metrics',
    'mlflow',
    'paramsDigest',
    'rootDigest',
  ],
  properties: {
    artifactUri: { type: 'string', minLength: 1 },
    createdAt: { type: 'string', format: 'date-time' },
    datasetDigest: { type: 'string', pattern: PREFIXED_SHA256 },
    digests: digestsSchema,
    rootDigest: { type: 'string', pattern: HEX64 },
    gitCommit: { type: 'string', nullable: true, pattern: GIT_COMMIT },
    metrics: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9_.-]*$' },
      additionalProperties: { type: 'number' },
    },
    mlflow: {
      type: 'object',
      additionalProperties: false,
      required: ['runId', 'modelVersion'],
      properties: {
        runId: { type: 'string', nullable: true, minLength: 1 },
        modelVersion: { type: 'string', nullable: true, pattern: '^[1-9][0-9]*$' },
        trackingUri: { type: 'string', nullable: true, minLength: 1 },
      },
    },
    paramsDigest: { type: 'string', pattern: PREFIXED_SHA256 },
    // model/backend.ts BackendName of the run (training.json backend.id): tensorflow-gpu, tensorflow, cpu
    backend: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
    // A Sigstore bundle (model/signing verifies it against manifests/base/signing-policy.json)
    signature: {
      type: 'object',
      required: ['mediaType', 'verificationMaterial'],
      properties: {
        mediaType: { type: 'string', pattern: '^application/vnd\\.dev\\.sigstore\\.bundle' },
        verificationMaterial: { type: 'object' },
      },
    },
  },
} as const;

/** The per-model part both lock schemas share: pins and the promotion history. */
const modelProperties = {
  pins: {
    type: 'object',
    propertyNames: { pattern: ENV_NAME_PATTERN },
    additionalProperties: { type: 'string', pattern: VERSION_ID_PATTERN },
  },
  promotions: { type: 'array', items: promotionSchema },
} as const;

/** A lock document whose models have `properties` (and require `required`). */
function lockDocumentSchema<P extends object>(properties: P, required: readonly string[]) {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    additionalProperties: false,
    required: ['lockfileVersion', 'models'],
    properties: {
      lockfileVersion: { const: 2 },
      models: {
        type: 'object',
        propertyNames: { pattern: MODEL_NAME_PATTERN },
        additionalProperties: { type: 'object', additionalProperties: false, required, properties },
      },
    },
  } as const;
}

/**
 * The JSON Schema (2020-12) of models.lock.json itself: the pins and the
 * promotion history of each model. The versions are files of their own,
 * `models.lock.d/<model>/<version>.json` ({@link versionSchema} each), so that
 * adding a candidate never edits a line another branch may edit too.
 */
export const lockIndexSchema = lockDocumentSchema(modelProperties, ['pins', 'promotions']);

/** The JSON Schema (2020-12) of a whole lock in memory: the index with every version file folded in. */
export const lockSchema = lockDocumentSchema(
  {
    ...modelProperties,
    versions: {
      type: 'object',
      propertyNames: { pattern: VERSION_ID_PATTERN },
      additionalProperties: versionSchema,
    },
  },
  ['pins', 'promotions', 'versions'],
);

/** An INVALID error of the lock's schema (its lines name each offending key and field), with the lock's hint. */
function withLockHint(e: unknown): never {
  if (!isProjectError(e) || !Array.isArray(e.details)) throw e;
  throw new ProjectError('INVALID', e.message, {
    subject: e.subject ?? 'lock',
    details: e.details,
    cause: e,
    hint: 'fix each field listed (see docs/lock-file.md), or restore the file from git',
  });
}

/** Compile `schema` once; its errors name the offending keys and fields, with the lock's hint ({@link withLockHint}). */
function namedValidator<T>(schema: object): (value: unknown, what: string) => T {
  const validate = compileValidator<T>(schema);
  return (value, what) => {
    try {
      return validate(value, what);
    } catch (e) {
      return withLockHint(e);
    }
  };
}

const validateShape = namedValidator<Lock>(lockSchema);

/** Validate the parsed text of models.lock.json (the index: pins and promotions). */
export const validateLockIndex: (value: unknown, what: string) => LockIndex = namedValidator(lockIndexSchema);

/** Validate one version entry alone (a candidate before it is added, a version file). */
export const validateVersionEntry: (value: unknown, what: string) => LockedVersion =
  namedValidator(versionSchema);

/** The version id of an artifact: `v` and the first 12 hex digits of its root digest. */
export function versionIdOf(rootDigestHex: string): string {
  return `v${rootDigestHex.slice(0, VERSION_ID_LENGTH)}`;
}

/**
 * The versions of a model, oldest first: by `createdAt` (when the artifact
 * was trained), then by id. Ids carry no order; this is the order every
 * listing and the `newest` promotion source use. It depends on the lock's
 * content only, so two candidates merged in either order give the same result.
 */
export function versionsOldestFirst(model: { versions: Record<string, { createdAt: string }> }): string[] {
  return Object.keys(model.versions).sort((a, b) => {
    const ta = Date.parse(model.versions[a]?.createdAt ?? '');
    const tb = Date.parse(model.versions[b]?.createdAt ?? '');
    return ta !== tb ? ta - tb : a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * What the schema cannot say: each problem as `<json pointer>: <what is wrong>`.
 * Empty when the lock is consistent.
 */
export function crossCheckLock(lock: Lock): string[] {
  const problems: string[] = [];
  for (const [name, model] of Object.entries(lock.models)) {
    const at = (...rest: string[]) => jsonPointer(['models', name, ...rest]);
    const ids = versionsOldestFirst(model);
    const known = `versions: ${ids.join(', ') || 'none'}`;
    for (const [env, version] of Object.entries(model.pins)) {
      if (!model.versions[version]) {
        problems.push(`${at('pins', env)}: pins version "${version}", which does not exist (${known})`);
      }
    }
    const lastTo = new Map<string, string>();
    model.promotions.forEach((p, i) => {
      if (!model.versions[p.to]) {
        problems.push(`${at('promotions', String(i), 'to')}: version "${p.to}" does not exist (${known})`);
      }
      if (p.from !== null && !model.versions[p.from]) {
        problems.push(
          `${at('promotions', String(i), 'from')}: version "${p.from}" does not exist (${known})`,
        );
      }
      if (p.reverted && (p.from === null || p.from === p.to)) {
        problems.push(
          `${at('promotions', String(i), 'reverted')}: a revert moves the pin away from the version that failed, but this record moves ${p.from === null ? 'nothing' : `"${p.from}" to itself`}`,
        );
      }
      const before = lastTo.get(p.env) ?? null;
      if (p.from !== before) {
        problems.push(
          `${at('promotions', String(i), 'from')}: says "${p.from}" but the ${p.env} pin was ${before === null ? 'unset' : `"${before}"`} after the record before it`,
        );
      }
      lastTo.set(p.env, p.to);
    });
    for (const [env, version] of Object.entries(model.pins)) {
      const last = lastTo.get(env);
      if (last !== version) {
        problems.push(
          `${at('pins', env)}: pins "${version}" but ${last === undefined ? 'no promotion record moved it there' : `the last promotion record of ${env} moved it to "${last}"`}; pins only move with a promotion record (scripts/lock.ts pin)`,
        );
      }
    }
    for (const env of lastTo.keys()) {
      if (model.pins[env] === undefined) {
        problems.push(`${at('pins')}: no pin for "${env}" although the promotion records moved one there`);
      }
    }
    for (const [id, v] of Object.entries(model.versions)) {
      if (id !== versionIdOf(v.rootDigest)) {
        problems.push(
          `${at('versions', id)}: the version id must be v and the first ${VERSION_ID_LENGTH} hex digits of its rootDigest (${versionIdOf(v.rootDigest)}): ids are content-addressed (lock versionIdOf)`,
        );
      }
      const root = rootDigest(v.digests);
      if (root !== v.rootDigest) {
        problems.push(
          `${at('versions', id, 'rootDigest')}: is ${v.rootDigest} but the digests add up to ${root} (platform/digest.ts rootDigest)`,
        );
      }
      // The lock is committed and printed everywhere: a credential in it is a leaked secret.
      const urls: [string[], string | null | undefined][] = [
        [['artifactUri'], v.artifactUri],
        [['mlflow', 'trackingUri'], v.mlflow.trackingUri],
      ];
      for (const [field, url] of urls) {
        if (url && hasCredentials(url)) {
          problems.push(
            `${at('versions', id, ...field)}: carries credentials (user:password@ or a secret query parameter); remove them and give them through the environment (MLFLOW_TRACKING_TOKEN)`,
          );
        }
      }
    }
  }
  return problems;
}

/**
 * Validate a parsed lock: its schema (every offending field by JSON path),
 * then {@link crossCheckLock}. `what` names the file in messages.
 * Throws ProjectError('INVALID').
 */
export function validateLock(value: unknown, what: string): Lock {
  const lock = validateShape(value, what);
  const problems = crossCheckLock(lock);
  if (problems.length > 0) {
    throw new ProjectError(
      'INVALID',
      `${what} is inconsistent:\n${problems.map((l) => `  - ${l}`).join('\n')}`,
      {
        subject: what,
        details: problems,
        hint: 'fix each entry listed, or restore the file from git',
      },
    );
  }
  return lock;
}
