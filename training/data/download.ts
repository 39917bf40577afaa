/**
 * Download one file with a checksum check: streamed to a temp file beside
 * the target, hashed on the way, renamed into place only when the checksum
 * matches. A wrong checksum or a failed transfer leaves nothing behind. The
 * bytes come from the first place that has them: the user's data mirrors
 * and local copies (./mirrors.ts), then the URL itself.
 * An http(s) URL is fetched without credentials; an `s3://bucket/key` URL is
 * read from the configured object store with its own credentials
 * (platform/object-store), which go to that store's endpoint and nowhere else.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { ProjectError } from '../../platform/index.ts';
import type { ObjectStore } from '../../platform/object-store/index.ts';
import {
  type DataMirrors,
  MIRRORS_DOC,
  MIRRORS_ENV,
  type MirrorCandidate,
  mirrorCandidates,
  userDataMirrors,
} from './mirrors.ts';

export interface DownloadOptions {
  /** Expected checksum: "md5:<hex>", "sha256:<hex>", or a bare hex md5 (32 chars) / sha256 (64 chars). */
  checksum: string;
  fetch?: typeof fetch;
  /**
   * Mirrors and local copies to try before `url` (./mirrors.ts); default the
   * user's configuration (GITOPS_ML_DATA_MIRRORS, ~/.config/gitops-ml/data-mirrors.json); false: none.
   */
  mirrors?: DataMirrors | false;
  /** The object store, for `s3://` URLs and mirrors (from OBJECT_STORE_* and AWS_* at the edge). */
  objectStore?: ObjectStore;
  /** Called as bytes arrive: (bytes so far, total bytes or undefined). */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Draw a cli-progress bar on this stream (default: stderr when it is a TTY; false for none). */
  progressBar?: NodeJS.WritableStream | false;
}

function parseChecksum(checksum: string): { algorithm: 'md5' | 'sha256'; hex: string } {
  const m = /^(?:(md5|sha256):)?([0-9a-f]+)$/i.exec(checksum.trim());
  const algorithm = (m?.[1]?.toLowerCase() ?? (m?.[2]?.length === 64 ? 'sha256' : 'md5')) as 'md5' | 'sha256';
  const hex = m?.[2]?.toLowerCase();
  if (!hex || hex.length !== (algorithm === 'md5' ? 32 : 64)) {
    throw new ProjectError('USAGE', `checksum "${checksum}" is not an md5 or sha256 hex digest`, {
      subject: 'checksum',
      hint: 'write it as md5:<32 hex> or sha256:<64 hex>',
    });
  }
  return { algorithm, hex };
}

/** An opened source of bytes: a mirror's file, an object in the store, or an HTTP response body. */
interface Opened {
  body: AsyncIterable<Uint8Array>;
  total: number | undefined;
  /** The place, for messages: a URL or a path. */
  where: string;
}

/**
 * Why a place did not have the file (tried in order; reported when every
 * place fails). `error`: the object store's own error, thrown as it is when
 * that place was the only one.
 */
class Missing extends Error {
  readonly error?: ProjectError;
  constructor(message: string, error?: ProjectError) {
    super(message);
    this.error = error;
  }
}

/** A ProjectError as one line of the list of places tried: its message, then its hint. */
const listed = (e: ProjectError): string => e.message.replace('\n  → ', ' → ');

async function openCandidate(
  c: MirrorCandidate,
  doFetch: typeof fetch,
  store?: ObjectStore,
): Promise<Opened> {
  if (c.kind === 's3') {
    if (!store) {
      const error = new ProjectError('INVALID', `${c.uri} is in the object store, and none is configured`, {
        subject: c.uri,
        hint: 'set OBJECT_STORE_ENDPOINT (or OBJECT_STORE_REGION for Amazon S3), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      });
      throw new Missing(listed(error), error);
    }
    try {
      const { body, size } = await store.get(c.uri);
      return { body, total: size, where: c.uri };
    } catch (e) {
      if (!(e instanceof ProjectError)) throw e;
      throw new Missing(listed(e), e);
    }
  }
  if (c.kind === 'file') {
    let size: number;
    try {
      const info = await stat(c.path);
      if (!info.isFile()) throw new Missing(`${c.path}: not a file`);
      size = info.size;
    } catch (e) {
      if (e instanceof Missing) throw e;
      throw new Missing(`${c.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return { body: createReadStream(c.path), total: size, where: c.path };
  }
  let response: Response;
  try {
    response = await doFetch(c.url);
  } catch (e) {
    throw new Missing(`${c.url}: download failed (${(e as Error).message})`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new Missing(`${c.url}: download failed (HTTP ${response.status})`);
  }
  const lengthHeader = response.headers.get('content-length');
  return {
    body: response.body as unknown as AsyncIterable<Uint8Array>,
    total: lengthHeader ? Number(lengthHeader) : undefined,
    where: c.url,
  };
}

/** The first of the user's mirrors of `url`, then `url` itself, that opens; UNAVAILABLE naming every place tried when none does. */
async function openFirst(
  url: string,
  checksum: string,
  mirrors: DataMirrors,
  doFetch: typeof fetch,
  objectStore: ObjectStore | undefined,
): Promise<Opened> {
  const tried: Missing[] = [];
  for (const candidate of mirrorCandidates(url, checksum, mirrors)) {
    try {
      return await openCandidate(candidate, doFetch, objectStore);
    } catch (e) {
      if (!(e instanceof Missing)) throw e;
      tried.push(e);
    }
  }
  const viaMirror = tried.length > 1;
  if (!viaMirror && tried[0]?.error) throw tried[0].error;
  throw new ProjectError(
    'UNAVAILABLE',
    viaMirror
      ? `${url}: no place had it:\n${tried.map((t) => `  - ${t.message}`).join('\n')}`
      : (tried[0]?.message ?? `${url}: download failed`),
    {
      subject: url,
      hint: viaMirror
        ? `fix the mirror (${mirrors.sources.join(', ')}), or check the network (${MIRRORS_DOC})`
        : `check the URL and the network, or configure a mirror or local copy of it (${MIRRORS_DOC}: ${MIRRORS_ENV}="${url}=/path/to/${basename(url)}")`,
    },
  );
}

/** A progress bar of the download on `stream` (default: stderr when it is a terminal); none when the size is unknown. */
function progressBarFor(
  url: string,
  total: number | undefined,
  stream: DownloadOptions['progressBar'],
): cliProgress.SingleBar | undefined {
  const barStream = stream ?? (process.stderr.isTTY ? process.stderr : false);
  return barStream && total
    ? new cliProgress.SingleBar(
        {
          stream: barStream,
          // A stream passed in explicitly gets the bar even when it is not a terminal (CI logs, tests).
          noTTYOutput: true,
          format: `${basename(url)} [{bar}] {percentage}% {value}/{total} bytes`,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
}

/**
 * Download `url` (http(s), or `s3://` in the object store) to `dest`,
 * verifying its checksum; returns the number of bytes written. The user's
 * data mirrors (./mirrors.ts) are tried first, in order, then `url`; the
 * checksum check is the same for every place.
 */
export async function downloadVerified(url: string, dest: string, opts: DownloadOptions): Promise<number> {
  const { algorithm, hex } = parseChecksum(opts.checksum);
  const doFetch = opts.fetch ?? globalThis.fetch;
  const mirrors = opts.mirrors === false ? { rules: [], sources: [] } : (opts.mirrors ?? userDataMirrors());
  const opened = await openFirst(url, `${algorithm}:${hex}`, mirrors, doFetch, opts.objectStore);
  const { total, where } = opened;
  const bar = progressBarFor(url, total, opts.progressBar);
  await mkdir(dirname(dest), { recursive: true });
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.part`);
  const hash = createHash(algorithm);
  let done = 0;
  try {
    const fh = await open(tmp, 'w');
    try {
      bar?.start(total!, 0);
      for await (const chunk of opened.body) {
        hash.update(chunk);
        await fh.write(chunk);
        done += chunk.length;
        bar?.update(done);
        opts.onProgress?.(done, total);
      }
      await fh.sync();
    } finally {
      bar?.stop();
      await fh.close();
    }
    const actual = hash.digest('hex');
    if (actual !== hex) {
      const mirrored = where !== url;
      throw new ProjectError(
        'DIGEST_MISMATCH',
        `${mirrored ? `${where} (a mirror of ${url})` : url}: ${algorithm} is ${actual}, expected ${hex}; the download was refused and deleted`,
        {
          subject: where,
          hint: mirrored
            ? `the mirror does not hold the archive the pointer names: replace the file there, or fix the rule (${mirrors.sources.join(', ')})`
            : 'retry the download; if it persists, the file at the URL is not the one expected (check the URL and checksum)',
          details: { url, from: where, algorithm, expected: hex, actual },
        },
      );
    }
    await rename(tmp, dest);
    return done;
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof ProjectError) throw e;
    throw new ProjectError('UNAVAILABLE', `${where}: download interrupted (${(e as Error).message})`, {
      subject: where,
      hint: 'retry',
      cause: e,
    });
  }
}
