/**
 * Open one file of an artifact folder wherever its URI points, as a stream,
 * so that large weights are hashed (and saved) without being held in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../errors.ts';
import { joinKey, s3Url } from '../object-store/url.ts';
import { redactText } from '../redact.ts';
import { type ArtifactLocation, type ArtifactStoreOptions, resolveArtifactLocation } from './location.ts';

/** An open artifact file: where it came from (a path or a URL without credentials) and its bytes. */
export interface ArtifactFile {
  source: string;
  body: AsyncIterable<Uint8Array>;
}

const SAFE_FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

/** Refuse file names that could leave the artifact folder (`..`, absolute paths, backslashes). */
export function assertSafeFileName(file: string, uri: string): void {
  if (!SAFE_FILE.test(file)) {
    throw new ProjectError(
      'INVALID',
      `artifact file name "${file}" of ${redactText(uri)} is not a plain relative path`,
      {
        subject: file,
        hint: 'file names are POSIX relative paths without "." or ".." segments',
      },
    );
  }
}

/** Re-throw a failure while reading the body (a reset, a timeout) as UNAVAILABLE naming the source. */
async function* guarded(
  body: AsyncIterable<Uint8Array>,
  source: string,
  file: string,
): AsyncIterable<Uint8Array> {
  try {
    yield* body;
  } catch (e) {
    if (e instanceof ProjectError) throw e;
    throw new ProjectError(
      'UNAVAILABLE',
      `reading artifact file "${file}" from ${source} failed: ${(e as Error).message}`,
      {
        subject: source,
        hint: 'retry',
        cause: e,
      },
    );
  }
}

/** The path or URL of `file` in a resolved location. */
export function sourceOf(location: ArtifactLocation, file: string): string {
  if (location.kind === 'local') return join(location.dir, ...file.split('/'));
  if (location.kind === 's3') return s3Url({ bucket: location.bucket, key: joinKey(location.prefix, file) });
  return `${location.baseUrl}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

async function openLocal(path: string, file: string, uri: string): Promise<ArtifactFile> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') {
      throw new ProjectError(
        'NOT_FOUND',
        `artifact file "${file}" not found at ${path} (artifact ${redactText(uri)})`,
        {
          subject: path,
          hint: 'check the artifact URI, or fetch the artifact folder first',
          cause: e,
        },
      );
    }
    throw new ProjectError('UNAVAILABLE', `cannot read ${path}: ${e.code ?? e.message}`, {
      subject: path,
      cause: e,
    });
  });
  if (!st.isFile()) {
    throw new ProjectError(
      'INVALID',
      `${path} is not a regular file (artifact file "${file}" of ${redactText(uri)})`,
      {
        subject: path,
      },
    );
  }
  return { source: path, body: guarded(createReadStream(path), path, file) };
}

async function openHttp(
  location: Extract<ArtifactLocation, { kind: 'http' }>,
  file: string,
  uri: string,
  options: ArtifactStoreOptions,
): Promise<ArtifactFile> {
  const url = sourceOf(location, file);
  const headers: Record<string, string> = location.authorization
    ? { authorization: location.authorization }
    : {};
  let res: Response;
  try {
    res = await (options.fetch ?? fetch)(url, {
      headers,
      signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new ProjectError(
      'UNAVAILABLE',
      `GET ${url} failed (${cause?.code ?? cause?.message ?? (e as Error).message}) fetching artifact file "${file}" of ${redactText(uri)}`,
      {
        subject: url,
        hint:
          location.via === 'mlflow'
            ? 'check that MLFLOW_TRACKING_URI points at a running MLflow server'
            : 'check the URL',
        cause: e,
      },
    );
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    const what = `GET ${url}: HTTP ${res.status} fetching artifact file "${file}" of ${redactText(uri)}`;
    if (res.status === 404)
      throw new ProjectError('NOT_FOUND', what, { subject: url, hint: 'check the artifact URI' });
    if (res.status === 401 || res.status === 403) {
      throw new ProjectError('UNAVAILABLE', what, {
        subject: url,
        hint:
          location.via === 'mlflow'
            ? 'set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD'
            : 'the server refused the credentials',
      });
    }
    throw new ProjectError('UNAVAILABLE', what, { subject: url, hint: 'retry later' });
  }
  return { source: url, body: guarded(res.body as AsyncIterable<Uint8Array>, url, file) };
}

async function openS3(
  location: Extract<ArtifactLocation, { kind: 's3' }>,
  file: string,
  uri: string,
  options: ArtifactStoreOptions,
): Promise<ArtifactFile> {
  const url = sourceOf(location, file);
  if (!options.objectStore) {
    throw new ProjectError(
      'INVALID',
      `artifact URI ${redactText(uri)} is in the object store, and none is configured`,
      {
        subject: uri,
        hint: 'set OBJECT_STORE_ENDPOINT (or OBJECT_STORE_REGION for Amazon S3), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      },
    );
  }
  const { body } = await options.objectStore.get(url);
  return { source: url, body };
}

/**
 * Open `file` of the artifact folder at `uri` (see {@link resolveArtifactLocation}).
 * Errors: NOT_FOUND (missing file, HTTP 404), UNAVAILABLE (network, HTTP
 * 5xx/401/403), INVALID (bad URI or file name); each names the path or URL.
 */
export async function fetchArtifactFile(
  uri: string,
  file: string,
  options: ArtifactStoreOptions = {},
): Promise<ArtifactFile> {
  assertSafeFileName(file, uri);
  const location = resolveArtifactLocation(uri, options);
  if (location.kind === 'local') return openLocal(sourceOf(location, file), file, uri);
  if (location.kind === 's3') return openS3(location, file, uri, options);
  return openHttp(location, file, uri, options);
}

/** Streamed sha256 (hex) and size of an artifact file. */
export async function hashArtifactFile(
  uri: string,
  file: string,
  options: ArtifactStoreOptions = {},
): Promise<{ sha256: string; bytes: number; source: string }> {
  const { source, body } = await fetchArtifactFile(uri, file, options);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), bytes, source };
}
