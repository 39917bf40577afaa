/**
 * The pin: how a Deployment names the one model version it runs
 * (docs/contracts.md, "environments/<env>/model-pin.yaml"). One contract,
 * three faces, all defined here:
 * - the SERVING_MODEL_* variables of the server container: written by
 *   {@link pinEnv}, read back by {@link pinFromEnv} (serving/);
 * - the ml.gitops/* pod-template annotations ({@link pinAnnotations}), which
 *   pipelines/verify and gitops' policy check;
 * - the file environments/<env>/model-pin.yaml that carries both
 *   ({@link pinPatch}; gitops/pin.ts writes it as YAML).
 * The names a pin carries (model name, environment, version id, artifact digests) follow
 * the patterns below, which lock/ validates its entries with too. Depends on
 * platform/ only: the server loads it at start-up.
 */
import { rootDigest } from '../platform/digest.ts';
import { ProjectError } from '../platform/errors.ts';
import { parseNamedJson, sortKeysDeep } from '../platform/json.ts';
import { compileValidator } from '../platform/schema.ts';

/** Model names: lowercase, digits, `.`, `_`, `-` (they end up in Kubernetes labels and URLs). */
export const MODEL_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,62}$';
/** Environment names: `dev`, `staging`, `prod`, or any other folder name under environments/. */
export const ENV_NAME_PATTERN = '^[a-z][a-z0-9-]{0,62}$';
/**
 * Version ids are content-addressed: `v` and the first {@link VERSION_ID_LENGTH}
 * hex digits of the artifact's rootDigest (lock versionIdOf). Two branches
 * that each train a candidate get different ids without asking anyone, so
 * their lock changes never collide (docs/lock-file.md "Parallel pull
 * requests"). The `v` keeps every id a string in every YAML reader: bare hex
 * such as `538486941e16` is a float to a YAML 1.2 parser (Infinity) while
 * kustomize, a YAML 1.1 emitter, writes it unquoted.
 */
export const VERSION_ID_LENGTH = 12;
export const VERSION_ID_PATTERN = `^v[0-9a-f]{${VERSION_ID_LENGTH}}$`;
/** Artifact file names: POSIX relative paths whose segments do not start with a dot (no `..`). */
export const ARTIFACT_FILE_PATTERN = '^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$';
/** A hex sha256. */
export const HEX64 = '^[0-9a-f]{64}$';

/** An artifact's file digests: relative file name → hex sha256 (lock `digests`, SERVING_MODEL_DIGESTS). */
export const digestsSchema = {
  type: 'object',
  minProperties: 1,
  propertyNames: { pattern: ARTIFACT_FILE_PATTERN },
  additionalProperties: { type: 'string', pattern: HEX64 },
} as const;

/** The Deployment and container every pin patches (manifests/base). */
export const DEPLOYMENT_NAME = 'model-server';
export const SERVER_CONTAINER = 'server';

/** File name of the pin inside an environment folder. */
export const PIN_FILE = 'model-pin.yaml';

/** Pod-template annotations that name the pinned model version (a new pin rolls a new ReplicaSet). */
export const PIN_ANNOTATIONS = {
  name: 'ml.gitops/model-name',
  version: 'ml.gitops/model-version',
  sha256: 'ml.gitops/model-sha256',
  /**
   * The model's pins and promotion history as JSON (lock modelHistory),
   * as of the environment's last promotion; manifests/base projects it into
   * the server's SERVING_MODEL_HISTORY_FILE with the Downward API.
   */
  history: 'ml.gitops/model-history',
} as const;

/** The SERVING_MODEL_* variables of a pin, in the order the pin file writes them. */
export const PIN_ENV = [
  'SERVING_MODEL_NAME',
  'SERVING_MODEL_VERSION',
  'SERVING_MODEL_URI',
  'SERVING_MODEL_DIGESTS',
  'SERVING_MODEL_SHA256',
] as const;

export type PinEnvName = (typeof PIN_ENV)[number];

/**
 * The version's signature (a Sigstore bundle as compact JSON, model/signing),
 * set when its lock entry has one. The server verifies it against its
 * signing policy (SERVING_SIGNING_POLICY) before it loads the model.
 */
export const PIN_SIGNATURE_ENV = 'SERVING_MODEL_SIGNATURE';

/** The variable that names the model version a server runs (what rollout verification reads). */
export const VERSION_ENV = 'SERVING_MODEL_VERSION' satisfies PinEnvName;

/** What a pin carries of a lock entry. */
export interface PinnedEntry {
  artifactUri: string;
  digests: Record<string, string>;
  rootDigest: string;
  /** The Sigstore bundle of the version, when it is signed. */
  signature?: object;
}

/** The one model version a server runs, as it reads it from its SERVING_MODEL_* variables. */
export interface ModelPin {
  name: string;
  version: string;
  /** Local path, `file:` URI, `mlflow-artifacts:/...`, `http(s)://.../` or `s3://bucket/prefix` folder. */
  uri: string;
  /** file → sha256 hex; every file is checked before the model is loaded. */
  digests: Record<string, string>;
  /** rootDigest(digests). */
  sha256: string;
  /** The Sigstore bundle (parsed JSON) from SERVING_MODEL_SIGNATURE, when the pin carries one. */
  signature?: unknown;
}

/** The signature variable's value for `entry`: its bundle as compact JSON with sorted keys, or undefined. */
export const pinSignatureValue = (entry: PinnedEntry): string | undefined =>
  entry.signature ? JSON.stringify(sortKeysDeep(entry.signature)) : undefined;

/** The variable values of a pin. SERVING_MODEL_DIGESTS is compact JSON with sorted keys. */
export function pinEnv(model: string, version: string, entry: PinnedEntry): Record<PinEnvName, string> {
  const digests: Record<string, string> = {};
  for (const k of Object.keys(entry.digests).sort()) digests[k] = entry.digests[k] as string;
  return {
    SERVING_MODEL_NAME: model,
    SERVING_MODEL_VERSION: version,
    SERVING_MODEL_URI: entry.artifactUri,
    SERVING_MODEL_DIGESTS: JSON.stringify(digests),
    SERVING_MODEL_SHA256: entry.rootDigest,
  };
}

/** The ml.gitops/* annotations of a pin; the history annotation only when `history` is given. */
export function pinAnnotations(
  model: string,
  version: string,
  entry: PinnedEntry,
  history?: object,
): Record<string, string> {
  const annotations: Record<string, string> = {
    [PIN_ANNOTATIONS.name]: model,
    [PIN_ANNOTATIONS.version]: version,
    [PIN_ANNOTATIONS.sha256]: entry.rootDigest,
  };
  if (history) annotations[PIN_ANNOTATIONS.history] = JSON.stringify(sortKeysDeep(history));
  return annotations;
}

/** What the pin file of an environment says. */
export interface PinFileInput {
  /** Model name, a key of `models` in models.lock.json. */
  model: string;
  /** Version id, a key of `models.<model>.versions`. */
  version: string;
  /** The lock entry `models.<model>.versions.<version>`. */
  entry: PinnedEntry;
  /** The serving image that runs it (the promotion record's `image`); absent: the base's image. */
  image?: string;
  /**
   * The model's pins and last promotions (lock modelHistory) for the
   * model card; written as the ml.gitops/model-history annotation.
   */
  history?: object;
}

/**
 * The pin file's content: a Kustomize strategic-merge patch of the
 * Deployment `model-server`, container `server`, that sets the SERVING_MODEL_*
 * variables, the ml.gitops/* annotations and, when the promotion names one,
 * the server's image, so a new pin changes the pod template and rolls out a
 * new ReplicaSet. Keys in a fixed order (gitops/pin.ts writes it as YAML).
 * https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/patches/
 */
export function pinPatch(input: PinFileInput): object {
  const { model, version, entry, image, history } = input;
  const env = pinEnv(model, version, entry);
  const container: Record<string, unknown> = { name: SERVER_CONTAINER };
  if (image) container.image = image;
  container.env = PIN_ENV.map((name) => ({ name, value: env[name] }));
  const signature = pinSignatureValue(entry);
  if (signature) (container.env as object[]).push({ name: PIN_SIGNATURE_ENV, value: signature });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: DEPLOYMENT_NAME },
    spec: {
      template: {
        metadata: { annotations: pinAnnotations(model, version, entry, history) },
        spec: { containers: [container] },
      },
    },
  };
}

/** JSON Schema properties of the pin variables, for a validator of a whole environment (serving/config.ts). */
export const pinEnvProperties = {
  SERVING_MODEL_NAME: { type: 'string', pattern: MODEL_NAME_PATTERN },
  SERVING_MODEL_VERSION: { type: 'string', pattern: VERSION_ID_PATTERN },
  SERVING_MODEL_URI: { type: 'string', minLength: 1 },
  SERVING_MODEL_DIGESTS: { type: 'string', minLength: 1 },
  SERVING_MODEL_SHA256: { type: 'string', pattern: HEX64 },
} as const;

const validatePinEnv = compileValidator<Partial<Record<PinEnvName, string>>>({
  type: 'object',
  properties: pinEnvProperties,
});
const validateDigests = compileValidator<Record<string, string>>(digestsSchema);

/** The pin variables that must all be there (SERVING_MODEL_SHA256 is checked when given). */
const REQUIRED_PIN_ENV = PIN_ENV.filter((k) => k !== 'SERVING_MODEL_SHA256');

/**
 * The pin a server runs, from its SERVING_MODEL_* variables (as the pin file
 * sets them): every variable present and well-formed, the digests valid
 * JSON naming files inside the artifact, SERVING_MODEL_SHA256 (when given)
 * their root digest. USAGE, INVALID or DIGEST_MISMATCH naming the variable.
 */
export function pinFromEnv(env: Partial<Record<PinEnvName | typeof PIN_SIGNATURE_ENV, string>>): ModelPin {
  const missing = REQUIRED_PIN_ENV.filter((k) => !env[k]);
  if (missing.length) {
    throw new ProjectError('USAGE', `serving environment is missing ${missing.join(', ')}`, {
      subject: 'SERVING_*',
      hint: 'set SERVING_MODEL_NAME, _VERSION, _URI, _DIGESTS (and _SHA256), as environments/<env>/model-pin.yaml does, or SERVING_LOCK_FILE + SERVING_ENVIRONMENT for local use',
    });
  }
  const vars = validatePinEnv(
    Object.fromEntries(PIN_ENV.filter((k) => env[k]).map((k) => [k, env[k]])),
    'serving environment',
  ) as Record<PinEnvName, string>;
  const parsed = parseNamedJson(vars.SERVING_MODEL_DIGESTS, 'SERVING_MODEL_DIGESTS', {
    hint: 'set it to the lock entry\'s "digests" object, e.g. {"model.json":"<sha256>",...}',
  });
  const digests = validateDigests(parsed, 'SERVING_MODEL_DIGESTS');
  const root = rootDigest(digests);
  if (vars.SERVING_MODEL_SHA256 && vars.SERVING_MODEL_SHA256 !== root) {
    throw new ProjectError(
      'DIGEST_MISMATCH',
      `SERVING_MODEL_SHA256 ${vars.SERVING_MODEL_SHA256} is not the root digest of SERVING_MODEL_DIGESTS (${root})`,
      {
        subject: 'SERVING_MODEL_SHA256',
        hint: 'regenerate the pin from models.lock.json (scripts/promote.ts)',
      },
    );
  }
  return {
    name: vars.SERVING_MODEL_NAME,
    version: vars.SERVING_MODEL_VERSION,
    uri: vars.SERVING_MODEL_URI,
    digests,
    sha256: root,
    ...(env[PIN_SIGNATURE_ENV]
      ? {
          signature: parseNamedJson(env[PIN_SIGNATURE_ENV], PIN_SIGNATURE_ENV, {
            hint: 'regenerate the pin from models.lock.json (npm run promote)',
          }),
        }
      : {}),
  };
}

/**
 * A container image reference as the pin carries it: `registry/path[:tag][@sha256:<hex>]`
 * (lowercase; https://github.com/distribution/reference grammar, simplified).
 */
export const IMAGE_REF_PATTERN =
  '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$';

const imageRefRe = new RegExp(IMAGE_REF_PATTERN);

/** True for a well-formed image reference. */
export const isImageRef = (ref: string): boolean => imageRefRe.test(ref);

/** True when the reference names its image by digest (immutable), not only by a tag. */
export const isDigestRef = (ref: string): boolean => /@sha256:[0-9a-f]{64}$/.test(ref);

/**
 * Environments that may run an image by tag (for a local or demo deployment);
 * every other one runs only `image@sha256:…`, carried from the environment it
 * is promoted from (docs/gitops.md "Images").
 */
export const TAG_ALLOWED_ENVS: readonly string[] = ['dev'];
