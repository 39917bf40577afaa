/**
 * Download one file with a checksum check: streamed to a temp file beside
 * the target, hashed on the way, renamed into place only when the checksum
 * matches. A wrong checksum or a failed transfer leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { ProjectError } from '../../platform/index.ts';

export interface DownloadOptions {
  /** Expected checksum: "md5:<hex>", "sha256:<hex>", or a bare hex md5 (32 chars) / sha256 (64 chars). */
  checksum: string;
  fetch?: typeof fetch;
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

/** Download `url` to `dest`, verifying its checksum; returns the number of bytes written. */
export async function downloadVerified(url: string, dest: string, opts: DownloadOptions): Promise<number> {
  const { algorithm, hex } = parseChecksum(opts.checksum);
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
  const total = lengthHeader ? Number(lengthHeader) : undefined;
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
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
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
