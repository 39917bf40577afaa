/**
 * The pin contract: how a Deployment names the one model version it runs
 * (docs/contracts.md, "environments/<env>/model-pin.yaml"). gitops writes
 * it, serving/ reads the variables, pipelines/verify checks the annotations; they
 * all take the names from here. Light: no dependency.
 */

/** The Deployment and container every pin patches (manifests/base). */
export const DEPLOYMENT_NAME = 'model-server';
export const SERVER_CONTAINER = 'server';

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

/** What a pin carries of a lock entry. */
export interface PinnedEntry {
  artifactUri: string;
  digests: Record<string, string>;
  rootDigest: string;
}

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
