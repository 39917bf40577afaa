/**
 * Download an artifact folder and check every file against its pinned
 * sha256 while it streams to disk. Serving uses this to fetch the pinned
 * model; nothing unverified is ever left under its final name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { rootDigest, sha256File } from '../digest.ts';
import { ProjectError } from '../errors.ts';
import { redactText } from '../redact.ts';
import { assertSafeFileName, fetchArtifactFile } from './fetch.ts';
import type { ArtifactStoreOptions } from './location.ts';

export interface DownloadOptions extends ArtifactStoreOptions {
  /** When given, the digests must add up to it (platform/digest.ts rootDigest) before anything is fetched. */
  rootDigest?: string;
}

export interface DownloadResult {
  dir: string;
  /** Files fetched now. */
  fetched: string[];
  /** Files already present in `destDir` with the right sha256, left as they were. */
  reused: string[];
}

/** The DIGEST_MISMATCH error every checker throws: names the file, where it came from, expected and actual. */
export function digestMismatch(
  file: string,
  source: string,
  expected: string,
  actual: string,
  about = '',
): ProjectError {
  return new ProjectError(
    'DIGEST_MISMATCH',
    `${about}artifact file "${file}" from ${source}: sha256 ${actual}, expected ${expected}`,
    {
      subject: file,
      details: { file, source, expected, actual },
      hint: 'the artifact changed after it was locked: re-train and add a new version, or point the URI at the original artifact',
    },
  );
}

/**
 * Fetch every file of `digests` (file → hex sha256) from the artifact at
 * `uri` into `destDir`, streaming each into a temporary file while hashing
 * it; a file whose sha256 differs is deleted and the call fails with
 * DIGEST_MISMATCH naming the file, expected and actual digest. On any
 * failure the files fetched by this call are removed again. Files already
 * in `destDir` with the right digest are kept (a cache).
 */
export async function downloadArtifact(
  uri: string,
  digests: Record<string, string>,
  destDir: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const files = Object.keys(digests).sort();
  for (const file of files) assertSafeFileName(file, uri);
  if (files.length === 0) {
    throw new ProjectError(
      'INVALID',
      `no files to download for ${redactText(uri)}: the digest list is empty`,
      {
        subject: redactText(uri),
      },
    );
  }
  if (options.rootDigest !== undefined && rootDigest(digests) !== options.rootDigest) {
    throw new ProjectError(
      'DIGEST_MISMATCH',
      `the file digests of ${redactText(uri)} add up to ${rootDigest(digests)}, not to the pinned root digest ${options.rootDigest}`,
      {
        subject: redactText(uri),
        hint: 'the digest list and the root digest must come from the same lock entry',
      },
    );
  }
  await mkdir(destDir, { recursive: true });
  const result: DownloadResult = { dir: destDir, fetched: [], reused: [] };
  try {
    for (const file of files) {
      const expected = digests[file] as string;
      const target = join(destDir, ...file.split('/'));
      if ((await sha256File(target).catch(() => undefined)) === expected) {
        result.reused.push(file);
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      const tmp = `${target}.${randomBytes(4).toString('hex')}.part`;
      try {
        const { source, body } = await fetchArtifactFile(uri, file, options);
        const hash = createHash('sha256');
        const fh = await open(tmp, 'w');
        try {
          for await (const chunk of body) {
            hash.update(chunk);
            await fh.write(chunk);
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        const actual = hash.digest('hex');
        if (actual !== expected) throw digestMismatch(file, source, expected, actual);
        await rename(tmp, target);
        result.fetched.push(file);
      } finally {
        await rm(tmp, { force: true });
      }
    }
  } catch (e) {
    for (const file of result.fetched) await rm(join(destDir, ...file.split('/')), { force: true });
    throw e;
  }
  return result;
}

/**
 * Read every file of `digests` from the artifact at `uri` into memory and
 * check each against its sha256 before returning: the bytes that were hashed
 * are the bytes the caller uses, so a file cannot change between the check
 * and the load. DIGEST_MISMATCH names the file, where it came from, expected
 * and actual; `about` prefixes the message (e.g. "model m version 3: ").
 */
export async function readVerifiedFiles(
  uri: string,
  digests: Record<string, string>,
  options: DownloadOptions & { about?: string } = {},
): Promise<Map<string, Uint8Array>> {
  const files = Object.keys(digests).sort();
  for (const file of files) assertSafeFileName(file, uri);
  if (options.rootDigest !== undefined && rootDigest(digests) !== options.rootDigest) {
    throw new ProjectError(
      'DIGEST_MISMATCH',
      `${options.about ?? ''}the file digests of ${redactText(uri)} add up to ${rootDigest(digests)}, not to the pinned root digest ${options.rootDigest}`,
      {
        subject: redactText(uri),
        hint: 'the digest list and the root digest must come from the same lock entry',
      },
    );
  }
  const out = new Map<string, Uint8Array>();
  for (const file of files) {
    const { source, body } = await fetchArtifactFile(uri, file, options);
    const chunks: Uint8Array[] = [];
    const hash = createHash('sha256');
    for await (const chunk of body) {
      hash.update(chunk);
      chunks.push(chunk);
    }
    const actual = hash.digest('hex');
    const expected = digests[file] as string;
    if (actual !== expected) throw digestMismatch(file, source, expected, actual, options.about);
    out.set(file, Buffer.concat(chunks));
  }
  return out;
}
