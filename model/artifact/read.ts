/**
 * The one reader of a model artifact (docs/artifact.md): every file of one
 * version fetched into memory and checked against its pinned sha256 before
 * anything reads it ({@link fetchVerifiedArtifact}, through
 * platform/artifact-store, the one resolver of artifact URIs: a local folder
 * or `file:` URI, `mlflow-artifacts:/...`, an `http(s)://.../` folder, an
 * `s3://bucket/prefix` folder in the object store, whose client loads the AWS
 * SDK only then), or a
 * local folder against its own digests.json ({@link openArtifactDir}); then
 * its JSON files and the model's parts, validated, from those same bytes.
 * Serving, the offline drift job, training's tests and the benchmarks read
 * artifacts here.
 */
import { join } from 'node:path';
import { readVerifiedFiles } from '../../platform/artifact-store/index.ts';
import { compileValidator, ProjectError, parseNamedJson } from '../../platform/index.ts';
import type { MlflowConfig } from '../../platform/mlflow/index.ts';
import { createObjectStore } from '../../platform/object-store/client.ts';
import type { ObjectStoreConfig } from '../../platform/object-store/config.ts';
import { isS3Url } from '../../platform/object-store/url.ts';
import { modelWeightsOf, validateModelJson } from '../model-io.ts';
import type { ModelPin } from '../pin.ts';
import { type PreprocessingSpec, parsePreprocessingSpec } from '../preprocessing.ts';
import { DIGESTS_FILE, REQUIRED_FILES, readDigestsFile } from './format.ts';
import type { ModelParts } from './layers.ts';

/** The verified files of an artifact, by relative name. */
export interface VerifiedArtifact {
  uri: string;
  files: Map<string, Uint8Array>;
}

export interface FetchOptions {
  /** MLflow connection for `mlflow-artifacts:/` URIs. */
  mlflow?: MlflowConfig;
  /** The object store, for `s3://` URIs. */
  objectStore?: ObjectStoreConfig;
  /** fetch() for http(s) URIs (tests pass a real one; default globalThis.fetch). */
  fetch?: typeof fetch;
  /** What the digests are called in a refusal (default SERVING_MODEL_DIGESTS, the pin's variable). */
  digestsSubject?: string;
}

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
        subject: opts.digestsSubject ?? 'SERVING_MODEL_DIGESTS',
        hint: 'the digests must cover every file of the artifact (docs/artifact.md)',
      },
    );
  }
  const store = opts.objectStore && isS3Url(pin.uri) ? createObjectStore(opts.objectStore) : undefined;
  try {
    const files = await readVerifiedFiles(pin.uri, pin.digests, {
      rootDigest: pin.sha256,
      about: `model ${pin.name} version ${pin.version}: `,
      ...(opts.mlflow ? { mlflow: opts.mlflow } : {}),
      ...(store ? { objectStore: store } : {}),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    return { uri: pin.uri, files };
  } finally {
    store?.close();
  }
}

/**
 * The local artifact folder `dir`, every file it lists in its digests.json
 * read and checked ({@link fetchVerifiedArtifact}), with those digests.
 * `name` and `version` only name it in messages.
 */
export async function openArtifactDir(
  dir: string,
  about: { name: string; version: string } = { name: 'artifact', version: 'local' },
): Promise<VerifiedArtifact & { digests: Record<string, string>; sha256: string }> {
  const digests = await readDigestsFile(dir);
  const pin = { ...about, uri: dir, digests: digests.files, sha256: digests.root };
  const artifact = await fetchVerifiedArtifact(pin, { digestsSubject: join(dir, DIGESTS_FILE) });
  return { ...artifact, digests: digests.files, sha256: digests.root };
}

/** A JSON file of a verified artifact, parsed. */
export function artifactJson(artifact: VerifiedArtifact, file: string): unknown {
  const bytes = artifact.files.get(file);
  if (!bytes) {
    throw new ProjectError('NOT_FOUND', `artifact ${artifact.uri} has no ${file}`, { subject: file });
  }
  return parseNamedJson(new TextDecoder().decode(bytes), `${file} of artifact ${artifact.uri}`, {
    subject: file,
  });
}

const validateLabels = compileValidator<string[]>({
  type: 'array',
  minItems: 2,
  uniqueItems: true,
  items: { type: 'string', minLength: 1 },
});

/** labels.json: the model's classes, one per output unit. */
export const labelsOf = (artifact: VerifiedArtifact): string[] =>
  validateLabels(artifactJson(artifact, 'labels.json'), 'labels.json');

/** preprocessing.json: how an image becomes the model's input. */
export const preprocessingOf = (artifact: VerifiedArtifact): PreprocessingSpec =>
  parsePreprocessingSpec(artifactJson(artifact, 'preprocessing.json'), 'preprocessing.json');

/**
 * The validated, plain-data parts of an artifact's model (what
 * ./layers.ts buildLayersModel builds, in a worker thread or not), with its
 * labels and preprocessing.
 */
export function modelParts(artifact: VerifiedArtifact): {
  parts: ModelParts;
  labels: string[];
  spec: PreprocessingSpec;
} {
  const modelJson = validateModelJson(artifactJson(artifact, 'model.json'), 'model.json');
  const labels = labelsOf(artifact);
  const spec = preprocessingOf(artifact);
  const weights = modelWeightsOf(modelJson, (p) => {
    const bytes = artifact.files.get(p);
    if (!bytes) {
      throw new ProjectError(
        'INVALID',
        `model.json names weight shard ${p}, which the pinned digests do not cover`,
        {
          subject: p,
          hint: 'every file the model reads must be listed in digests.json and the lock entry',
        },
      );
    }
    return bytes;
  });
  const parts: ModelParts = {
    uri: artifact.uri,
    ...weights,
    input: [spec.height, spec.width, spec.channels],
    labels: labels.length,
  };
  return { parts, labels, spec };
}
