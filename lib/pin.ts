/**
 * The pin contract: how a Deployment names the one model version it runs
 * (docs/contracts.md, "environments/<env>/model-pin.yaml"). lib/gitops writes
 * it, serving/ reads the variables, lib/rollout checks the annotations; they
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
