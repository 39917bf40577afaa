/**
 * Download one file with a checksum check: streamed to a temp file beside
 * the target, hashed on the way, renamed into place only when the checksum
 * matches. A wrong checksum or a failed transfer leaves nothing behind.
 * An http(s) URL is fetched without credentials; an `s3://bucket/key` URL is
 * read from the configured object store with its own credentials
 * (platform/object-store), which go to that store's endpoint and nowhere else.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { ProjectError } from '../../platform/index.ts';
import { isS3Url, type ObjectStore } from '../../platform/object-store/index.ts';

export interface DownloadOptions {
  /** Expected checksum: "md5:<hex>", "sha256:<hex>", or a bare hex md5 (32 chars) / sha256 (64 chars). */
  checksum: string;
  fetch?: typeof fetch;
  /** The object store, for `s3://` URLs (from OBJECT_STORE_* and AWS_* at the edge). */
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

/** The bytes at `url` and their length when known: from the object store for `s3://`, else over HTTP. */
async function openSource(
  url: string,
  dest: string,
  opts: DownloadOptions,
): Promise<{ body: AsyncIterable<Uint8Array>; total: number | undefined }> {
  if (isS3Url(url)) {
    if (!opts.objectStore) {
      throw new ProjectError('INVALID', `${url} is in the object store, and none is configured`, {
        subject: url,
        hint: 'set OBJECT_STORE_ENDPOINT (or OBJECT_STORE_REGION for Amazon S3), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      });
    }
    const { body, size } = await opts.objectStore.get(url);
    return { body, total: size };
  }
  const doFetch = opts.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await doFetch(url);
  } catch (e) {
    throw new ProjectError('UNAVAILABLE', `${url}: download failed (${(e as Error).message})`, {
      subject: url,
      hint: `check the network, or download it by hand and extract it into ${dirname(dest)}`,
      cause: e,
    });
  }
  if (!response.ok || !response.body) {
    throw new ProjectError('UNAVAILABLE', `${url}: download failed (HTTP ${response.status})`, {
      subject: url,
      hint: `check the URL, or download it by hand and extract it into ${dirname(dest)}`,
    });
  }
  const lengthHeader = response.headers.get('content-length');
  return {
    body: response.body as unknown as AsyncIterable<Uint8Array>,
    total: lengthHeader ? Number(lengthHeader) : undefined,
  };
}

/** Download `url` (http(s) or `s3://`) to `dest`, verifying its checksum; returns the number of bytes written. */
export async function downloadVerified(url: string, dest: string, opts: DownloadOptions): Promise<number> {
  const { algorithm, hex } = parseChecksum(opts.checksum);
  const { body, total } = await openSource(url, dest, opts);
  const barStream = opts.progressBar ?? (process.stderr.isTTY ? process.stderr : false);
  const bar =
    barStream && total
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
  await mkdir(dirname(dest), { recursive: true });
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.part`);
  const hash = createHash(algorithm);
  let done = 0;
  try {
    const fh = await open(tmp, 'w');
    try {
      bar?.start(total!, 0);
      for await (const chunk of body) {
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
      throw new ProjectError(
        'DIGEST_MISMATCH',
        `${url}: ${algorithm} is ${actual}, expected ${hex}; the download was refused and deleted`,
        {
          subject: url,
          hint: 'retry the download; if it persists, the file at the URL is not the one expected (check the URL and checksum)',
          details: { url, algorithm, expected: hex, actual },
        },
      );
    }
    await rename(tmp, dest);
    return done;
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof ProjectError) throw e;
    throw new ProjectError('UNAVAILABLE', `${url}: download interrupted (${(e as Error).message})`, {
      subject: url,
      hint: 'retry',
      cause: e,
    });
  }
}
