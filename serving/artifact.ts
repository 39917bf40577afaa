/**
 * Fetch the files of one model version's artifact (docs/artifact.md) into
 * memory and check each against its pinned sha256 before anything reads it:
 * the bytes that were hashed are the bytes that get loaded, so a file cannot
 * change between the check and the load.
 *
 * Sources: a local folder (path or `file:` URI), `mlflow-artifacts:/...`
 * through the tracking server's artifact proxy, or an `http(s)://.../` folder.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProjectError, sha256 } from '../lib/index.ts';
import { httpOptionsOf, MlflowClient, type MlflowConfig } from '../lib/mlflow/index.ts';
import type { ModelPin } from './config.ts';

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

type Getter = (file: string) => Promise<Uint8Array>;

function localGetter(dir: string): Getter {
  return async (file) => {
    try {
      return new Uint8Array(await readFile(join(dir, file)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'UNAVAILABLE';
      throw new ProjectError(
        code,
        `artifact file ${join(dir, file)} cannot be read: ${(e as Error).message}`,
        {
          subject: join(dir, file),
          hint: 'check SERVING_MODEL_URI and that the artifact folder holds every file of its digests',
          expose: true,
        },
      );
    }
  };
}

function httpGetter(base: string, fetchImpl: typeof fetch): Getter {
  const root = base.endsWith('/') ? base : `${base}/`;
  return async (file) => {
    const url = new URL(file.split('/').map(encodeURIComponent).join('/'), root).toString();
    let res: Response;
    try {
      res = await fetchImpl(url);
    } catch (e) {
      throw new ProjectError('UNAVAILABLE', `cannot fetch artifact file ${url}: ${(e as Error).message}`, {
        subject: url,
      });
    }
    if (!res.ok) {
      throw new ProjectError(
        res.status === 404 ? 'NOT_FOUND' : 'UNAVAILABLE',
        `artifact file ${url} answered HTTP ${res.status}`,
        { subject: url, hint: 'check SERVING_MODEL_URI' },
      );
    }
    return new Uint8Array(await res.arrayBuffer());
  };
}

function mlflowGetter(uri: string, mlflow: MlflowConfig | undefined): Getter {
  if (!mlflow) {
    throw new ProjectError('USAGE', `artifact URI ${uri} needs MLFLOW_TRACKING_URI`, {
      subject: 'MLFLOW_TRACKING_URI',
      hint: 'set MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_TOKEN) to the tracking server that serves the artifact',
    });
  }
  const client = new MlflowClient(httpOptionsOf(mlflow));
  return (file) => client.downloadArtifact(uri, file);
}

function getterFor(uri: string, opts: FetchOptions): Getter {
  if (uri.startsWith('mlflow-artifacts:')) return mlflowGetter(uri, opts.mlflow);
  if (/^https?:\/\//.test(uri)) return httpGetter(uri, opts.fetch ?? fetch);
  if (uri.startsWith('file://')) return localGetter(fileURLToPath(uri));
  if (uri.startsWith('file:')) return localGetter(uri.slice('file:'.length));
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
    throw new ProjectError('USAGE', `artifact URI scheme of ${uri} is not supported`, {
      subject: 'SERVING_MODEL_URI',
      hint: 'use a local path, file:, mlflow-artifacts:/ or http(s)://',
    });
  }
  return localGetter(uri);
}

/**
 * Fetch every file named in `pin.digests` and check its sha256.
 * @throws ProjectError DIGEST_MISMATCH naming the file, the pinned and the
 *   actual digest; NOT_FOUND for a missing file; INVALID when the pin does
 *   not list a required file.
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
  const get = getterFor(pin.uri, opts);
  const files = new Map<string, Uint8Array>();
  for (const [file, expected] of Object.entries(pin.digests).sort(([a], [b]) => a.localeCompare(b))) {
    const bytes = await get(file);
    const actual = sha256(bytes);
    if (actual !== expected) {
      throw new ProjectError(
        'DIGEST_MISMATCH',
        `artifact file ${file} of model ${pin.name} version ${pin.version} (${pin.uri}) has sha256 ${actual}, but the pin says ${expected}`,
        {
          subject: file,
          hint: 'the artifact changed after it was locked: restore it, or lock and promote a new version',
          details: { file, expected, actual },
        },
      );
    }
    files.set(file, bytes);
  }
  return { uri: pin.uri, files };
}
