/**
 * Fetch the files of one model version's artifact (docs/artifact.md) into
 * memory and check each against its pinned sha256 before anything reads it,
 * through platform/artifact-store (the one resolver of artifact URIs, with the
 * one rule for credentials): a local folder (path or `file:` URI),
 * `mlflow-artifacts:/...` through the tracking server's artifact proxy, or an
 * `http(s)://.../` folder.
 */

import type { ModelPin } from '../model/pin.ts';
import { readVerifiedFiles } from '../platform/artifact-store/index.ts';
import { ProjectError } from '../platform/index.ts';
import type { MlflowConfig } from '../platform/mlflow/index.ts';

/** The verified files of an artifact, by relative name. */
export interface VerifiedArtifact {
  uri: string;
  files: Map<string, Uint8Array>;
}

export interface FetchOptions {
  /** MLflow connection for `mlflow-artifacts:/` URIs. */
  mlflow?: MlflowConfig;
  /** fetch() for http(s) URIs (tests pass a real one; default globalThis.fetch). */
  fetch?: typeof fetch;
}

/** The files a model cannot be loaded without. */
export const REQUIRED_FILES = ['model.json', 'labels.json', 'preprocessing.json'] as const;

/**
 * Fetch every file named in `pin.digests` and check its sha256.
 * @throws ProjectError DIGEST_MISMATCH naming the file, the pinned and the
 *   actual digest; NOT_FOUND for a missing file; UNAVAILABLE for a server that
 *   does not answer; INVALID when the pin does not list a required file.
 */
export async function fetchVerifiedArtifact(
  pin: ModelPin,
  opts: FetchOptions = {},
): Promise<VerifiedArtifact> {
  const missing = REQUIRED_FILES.filter((f) => !(f in pin.digests));
  if (missing.length) {
    throw new ProjectError(
      'INVALID',
      `the pin of model ${pin.name} version ${pin.version} lists no digest for ${missing.join(', ')}`,
      {
        subject: 'SERVING_MODEL_DIGESTS',
        hint: 'the digests must cover every file of the artifact (docs/artifact.md)',
      },
    );
  }
  const files = await readVerifiedFiles(pin.uri, pin.digests, {
    rootDigest: pin.sha256,
    about: `model ${pin.name} version ${pin.version}: `,
    ...(opts.mlflow ? { mlflow: opts.mlflow } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  return { uri: pin.uri, files };
}
