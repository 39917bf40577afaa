import { ProjectError } from '../errors.ts';

/**
 * The parts of an artifact URI of the form `mlflow-artifacts:/<path>` or
 * `mlflow-artifacts://host:port/<path>`, which a tracking server started with
 * `--serve-artifacts` (the default) hands out as each run's `artifact_uri`.
 * The one parser of that scheme (platform/artifact-store resolves it to a URL).
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/artifact-store/
 */
export function parseMlflowArtifactsUri(artifactUri: string): { host?: string; path: string } {
  const m = /^mlflow-artifacts:(?:\/\/([^/]*))?\/*(.*)$/.exec(artifactUri);
  if (!m) {
    throw new ProjectError(
      'INVALID',
      `artifact URI ${artifactUri} is not served through the tracking server's artifact proxy`,
      {
        subject: artifactUri,
        hint: 'start the MLflow server with --serve-artifacts (the default) and --artifacts-destination, so runs get mlflow-artifacts:/ URIs',
      },
    );
  }
  const path = (m[2] ?? '').replace(/\/+$/, '');
  return m[1] ? { host: m[1], path } : { path };
}

/**
 * The path under the tracking server's artifact proxy
 * (`/api/2.0/mlflow-artifacts/artifacts/<path>`) for an `mlflow-artifacts:`
 * URI. With `trackingUri`, a URI that names another host is refused: the
 * client writes and reads through its own server only.
 */
export function proxyPathOf(artifactUri: string, trackingUri?: string): string {
  const { host, path } = parseMlflowArtifactsUri(artifactUri);
  if (host && trackingUri && new URL(trackingUri).host !== host) {
    throw new ProjectError(
      'INVALID',
      `artifact URI ${artifactUri} names host ${host}, not the tracking server ${new URL(trackingUri).host}`,
      { subject: artifactUri, hint: 'use the tracking server that logged the run (MLFLOW_TRACKING_URI)' },
    );
  }
  return path;
}

/** Join POSIX path parts, dropping empty ones and duplicate slashes. */
export function joinArtifactPath(...parts: (string | undefined)[]): string {
  return parts
    .flatMap((p) => (p ?? '').split('/'))
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** Encode each segment of a POSIX path for a URL path. */
export function encodePath(path: string): string {
  return path
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/');
}
