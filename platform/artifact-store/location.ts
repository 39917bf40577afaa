/**
 * Where an artifact URI points: a local folder, an HTTP folder (a plain
 * http(s) URL, or the MLflow tracking server's artifact proxy), with the
 * credentials a request there may carry, or a prefix in the object store
 * (`s3://bucket/prefix`, read with the store's own client and credentials).
 * The one resolver of artifact URIs: the lock's verify, promotion gates, the
 * PR comment, serving and the drift job all come through here.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProjectError } from '../errors.ts';
import { parseMlflowArtifactsUri } from '../mlflow/artifact-uri.ts';
import { authorizationFor, authorizationHeader } from '../mlflow/auth.ts';
import type { MlflowConfig } from '../mlflow/config.ts';
import type { ObjectStore } from '../object-store/client.ts';
import { isS3Url, parseS3Url } from '../object-store/url.ts';
import { safeUrl } from '../redact.ts';

/** How an artifact URI resolves. `baseUrl` never holds credentials; `authorization` is never printed. */
export type ArtifactLocation =
  | { kind: 'local'; dir: string }
  | {
      kind: 'http';
      via: 'mlflow' | 'http';
      baseUrl: string;
      /** The Authorization header for requests under `baseUrl`, when it may carry one. */
      authorization?: string;
    }
  | {
      kind: 's3';
      bucket: string;
      /** The key prefix of the folder, without a trailing `/` ('' for the bucket's root). */
      prefix: string;
    };

/** How artifacts are reached: parsed once at the edge, passed down. */
export interface ArtifactStoreOptions {
  /** Folder that relative paths and relative `file:` URIs are resolved against (the lock file's folder). Default: cwd. */
  baseDir?: string;
  /**
   * The MLflow tracking server (MLFLOW_TRACKING_URI and its credentials, platform/mlflow
   * mlflowConfigFromEnv), for `mlflow-artifacts:` URIs. Its credentials go only
   * to its own origin (platform/mlflow/auth.ts).
   */
  mlflow?: Pick<MlflowConfig, 'trackingUri' | 'auth'>;
  /**
   * The object store (platform/object-store, from OBJECT_STORE_* and AWS_* at
   * the edge), for `s3://` URIs; its credentials go only to its endpoint.
   */
  objectStore?: ObjectStore;
  fetch?: typeof fetch;
  /** Per-file timeout in ms, body included (default 120 000). */
  timeoutMs?: number;
}

/** The MLflow artifact proxy route: GET `<tracking>/api/2.0/mlflow-artifacts/artifacts/<path>`. */
export const MLFLOW_ARTIFACTS_ROUTE = '/api/2.0/mlflow-artifacts/artifacts';

function trimSlashes(s: string): string {
  return s.replace(/\/+$/, '');
}

function httpLocation(
  raw: string,
  via: 'mlflow' | 'http',
  uri: string,
  options: ArtifactStoreOptions,
): ArtifactLocation {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // No cause: the URL parser's error holds the raw URI, credentials included.
    throw new ProjectError('INVALID', `artifact URI ${safeUrl(uri)} is not a valid URL`, { subject: uri });
  }
  // Credentials written into the URL itself belong to that URL's own host.
  const own =
    u.username || u.password
      ? authorizationHeader({
          kind: 'basic',
          username: decodeURIComponent(u.username),
          password: decodeURIComponent(u.password),
        })
      : undefined;
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  const baseUrl = trimSlashes(u.toString());
  const authorization = own ?? authorizationFor(baseUrl, options.mlflow);
  return authorization ? { kind: 'http', via, baseUrl, authorization } : { kind: 'http', via, baseUrl };
}

/**
 * The local folder of a path or `file:` URI (absolute, or relative to
 * `baseDir`), or undefined when `uri` is remote (http(s), mlflow-artifacts,
 * s3). Other schemes (gs:, runs:/, models:/) are INVALID, saying what to use.
 */
export function localDirOf(uri: string, baseDir: string = process.cwd()): string | undefined {
  if (uri === '') throw new ProjectError('INVALID', 'artifact URI is empty', { subject: 'artifactUri' });
  if (uri.startsWith('mlflow-artifacts:') || /^https?:\/\//i.test(uri) || isS3Url(uri)) return undefined;
  if (uri.startsWith('file:')) {
    const dir = uri.startsWith('file://')
      ? fileURLToPath(uri)
      : decodeURIComponent(uri.slice('file:'.length));
    if (dir === '')
      throw new ProjectError('INVALID', `artifact URI ${uri} names no folder`, { subject: uri });
    return isAbsolute(dir) ? dir : resolve(baseDir, dir);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri) && !/^[a-z]:[\\/]/i.test(uri)) {
    throw new ProjectError(
      'INVALID',
      `artifact URI ${safeUrl(uri)}: scheme "${uri.split(':')[0]}" is not supported`,
      {
        subject: uri,
        hint: 'use a local path, file:, mlflow-artifacts:/ (through the tracking server), s3:// (the object store) or an http(s) folder URL',
      },
    );
  }
  return isAbsolute(uri) ? uri : resolve(baseDir, uri);
}

/**
 * Resolve an artifact URI:
 * - a path (absolute, or relative to `baseDir`), `file:<relative path>`, `file:/abs` or `file:///abs`;
 * - `mlflow-artifacts:/<path>` → `${tracking}/api/2.0/mlflow-artifacts/artifacts/<path>`,
 *   and `mlflow-artifacts://host:port/<path>` → the same route on that host
 *   (as MLflow's own client does), with the tracking credentials only when
 *   that host is the tracking server's;
 * - `http(s)://.../folder` (credentials in the URL are used for that URL only);
 * - `s3://bucket/prefix`: the folder under that key prefix in the configured
 *   object store (credentials in the URL are refused: platform/object-store/url.ts).
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/artifact-store/
 */
export function resolveArtifactLocation(uri: string, options: ArtifactStoreOptions = {}): ArtifactLocation {
  const dir = localDirOf(uri, options.baseDir);
  if (dir !== undefined) return { kind: 'local', dir };
  if (isS3Url(uri)) {
    const { bucket, key } = parseS3Url(uri, { prefix: true });
    return { kind: 's3', bucket, prefix: key.replace(/\/+$/, '') };
  }
  if (/^https?:\/\//i.test(uri)) return httpLocation(uri, 'http', uri, options);
  const { host, path } = parseMlflowArtifactsUri(uri);
  const tracking = options.mlflow?.trackingUri;
  if (!tracking && !host) {
    throw new ProjectError(
      'INVALID',
      `artifact URI ${uri} needs the MLflow tracking server, and none is set`,
      {
        subject: uri,
        hint: 'set MLFLOW_TRACKING_URI to the server that stores the artifact',
      },
    );
  }
  const base = tracking ? new URL(tracking) : new URL(`http://${host}`);
  if (host) base.host = host;
  const encoded = path
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/');
  return httpLocation(
    `${trimSlashes(base.toString())}${MLFLOW_ARTIFACTS_ROUTE}/${encoded}`,
    'mlflow',
    uri,
    options,
  );
}
