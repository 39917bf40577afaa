/**
 * Where an artifact URI points: a local folder, or an HTTP folder (a plain
 * http(s) URL, or the MLflow tracking server's artifact proxy).
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProjectError } from '../errors.ts';

/** How an artifact URI resolves. Never holds credentials in `baseUrl`. */
export type ArtifactLocation =
  | { kind: 'local'; dir: string }
  | {
      kind: 'http';
      via: 'mlflow' | 'http';
      baseUrl: string;
      basicAuth?: { username: string; password: string };
    };

export interface ArtifactStoreOptions {
  /** Folder that relative paths and relative `file:` URIs are resolved against (the lock file's folder). Default: cwd. */
  baseDir?: string;
  /** MLflow tracking server base URL, for `mlflow-artifacts:/` URIs (MLFLOW_TRACKING_URI, parsed at the edge). */
  mlflowTrackingUri?: string;
  /**
   * Extra request headers (e.g. `authorization` for MLflow), asked per URL.
   * @param via 'mlflow' for the tracking server's proxy, 'http' for a plain folder URL
   */
  headers?: (
    url: string,
    via: 'mlflow' | 'http',
  ) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
  fetch?: typeof fetch;
  /** Per-file timeout in ms, body included (default 120 000). */
  timeoutMs?: number;
}

/** The MLflow artifact proxy route: GET `<tracking>/api/2.0/mlflow-artifacts/artifacts/<path>`. */
export const MLFLOW_ARTIFACTS_ROUTE = '/api/2.0/mlflow-artifacts/artifacts';

function trimSlashes(s: string): string {
  return s.replace(/\/+$/, '');
}

function httpLocation(raw: string, via: 'mlflow' | 'http', uri: string): ArtifactLocation {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ProjectError('INVALID', `artifact URI ${uri} is not a valid URL`, { subject: uri });
  }
  const basicAuth =
    u.username || u.password
      ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
      : undefined;
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  const loc: ArtifactLocation = { kind: 'http', via, baseUrl: trimSlashes(u.toString()) };
  if (basicAuth) loc.basicAuth = basicAuth;
  return loc;
}

/**
 * Resolve an artifact URI:
 * - a path (absolute, or relative to `baseDir`), `file:<relative path>`, `file:/abs` or `file:///abs`;
 * - `mlflow-artifacts:/<path>` → `${mlflowTrackingUri}/api/2.0/mlflow-artifacts/artifacts/<path>`,
 *   and `mlflow-artifacts://host:port/<path>` → the same route on that host
 *   (as MLflow's own client does);
 * - `http(s)://.../folder`.
 * Anything else (s3:, gs:, runs:/, models:/) is INVALID with what to use instead.
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/artifact-store/
 */
export function resolveArtifactLocation(uri: string, options: ArtifactStoreOptions = {}): ArtifactLocation {
  const baseDir = options.baseDir ?? process.cwd();
  if (uri.startsWith('mlflow-artifacts:')) {
    const m = /^mlflow-artifacts:(?:\/\/([^/]*))?\/*(.*)$/.exec(uri);
    const host = m?.[1];
    const path = (m?.[2] ?? '').replace(/\/+$/, '');
    const tracking = options.mlflowTrackingUri;
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
    return httpLocation(`${trimSlashes(base.toString())}${MLFLOW_ARTIFACTS_ROUTE}/${encoded}`, 'mlflow', uri);
  }
  if (/^https?:\/\//i.test(uri)) return httpLocation(uri, 'http', uri);
  if (uri.startsWith('file:')) {
    const dir = uri.startsWith('file://')
      ? fileURLToPath(uri)
      : decodeURIComponent(uri.slice('file:'.length));
    if (dir === '')
      throw new ProjectError('INVALID', `artifact URI ${uri} names no folder`, { subject: uri });
    return { kind: 'local', dir: isAbsolute(dir) ? dir : resolve(baseDir, dir) };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri) && !/^[a-z]:[\\/]/i.test(uri)) {
    throw new ProjectError('INVALID', `artifact URI ${uri}: scheme "${uri.split(':')[0]}" is not supported`, {
      subject: uri,
      hint: 'use a local path, file:, mlflow-artifacts:/ (through the tracking server) or an http(s) folder URL',
    });
  }
  if (uri === '') throw new ProjectError('INVALID', 'artifact URI is empty', { subject: 'artifactUri' });
  return { kind: 'local', dir: isAbsolute(uri) ? uri : resolve(baseDir, uri) };
}
