import { ProjectError } from '../errors.ts';

/**
 * The path under the tracking server's artifact proxy
 * (`/api/2.0/mlflow-artifacts/artifacts/<path>`) for an artifact URI of the
 * form `mlflow-artifacts:/<path>` or `mlflow-artifacts://host:port/<path>`,
 * which a server started with `--serve-artifacts` (the default) hands out as
 * each run's `artifact_uri`.
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/artifact-store/
 */
export function proxyPathOf(artifactUri: string): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(artifactUri);
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
  return (m[1] ?? '').replace(/\/+$/, '');
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
