/**
 * Where a scoring run reads images and writes records: a local folder or an
 * `s3://bucket/prefix` in the object store (platform/object-store, the one
 * client). Every output object is written whole and once: a local file
 * through platform/fs writeFileAtomic (temp file, fsync, rename), an object
 * with a conditional put (`If-None-Match: *`). What is there is what is done.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { CAPTURE_PREFIX, captureVersionPartition } from '../../model/capture.ts';
import { isProjectError, ProjectError } from '../../platform/errors.ts';
import { writeFileAtomic } from '../../platform/fs.ts';
import { isS3Url, joinKey, type ObjectStore, parseS3Url } from '../../platform/object-store/index.ts';

/** The images a run scores: these extensions (any case); anything else in the folder is left alone. */
export const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** A local folder or a prefix in the object store, as `--input` / `--out` name it. */
export type Location =
  | { kind: 'local'; dir: string; shown: string }
  | { kind: 's3'; bucket: string; prefix: string; shown: string };

/** Parse `--input` / `--out`: `s3://bucket/prefix` or a folder (resolved against `cwd`). */
export function parseLocation(value: string, cwd: string): Location {
  if (isS3Url(value)) {
    const { bucket, key } = parseS3Url(value, { prefix: true });
    return { kind: 's3', bucket, prefix: key.replace(/\/+$/, ''), shown: value };
  }
  return { kind: 'local', dir: resolve(cwd, value), shown: value };
}

/** The s3:// URL or path of `key` under a location, for messages and records. */
export function locate(loc: Location, key: string): string {
  return loc.kind === 's3' ? `s3://${loc.bucket}/${joinKey(loc.prefix, key)}` : join(loc.dir, key);
}

function needStore(loc: Location, store: ObjectStore | undefined): ObjectStore {
  if (loc.kind === 's3' && !store) {
    throw new ProjectError('USAGE', `${loc.shown} is in the object store, but none is configured`, {
      subject: loc.shown,
      hint: 'set OBJECT_STORE_ENDPOINT (and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) (docs/object-store.md)',
    });
  }
  return store as ObjectStore;
}

/** Every image key under `loc` (relative, `/`-separated), unsorted. NOT_FOUND/UNAVAILABLE naming it. */
export async function listImages(loc: Location, store?: ObjectStore): Promise<string[]> {
  if (loc.kind === 'local') {
    let names: string[];
    try {
      names = await readdir(loc.dir, { recursive: true });
    } catch (e) {
      throw new ProjectError('NOT_FOUND', `input folder ${loc.dir} cannot be read: ${(e as Error).message}`, {
        subject: loc.dir,
        hint: 'pass --input a folder of PNG/JPEG images or an s3://bucket/prefix',
        cause: e,
      });
    }
    return names
      .map((n) => n.split(sep).join('/'))
      .filter((n) => IMAGE_FILE.test(n) && !n.split('/').some((part) => part.startsWith('.')));
  }
  const s3 = needStore(loc, store);
  const base = joinKey(loc.prefix, '');
  const keys: string[] = [];
  for await (const o of s3.list({ bucket: loc.bucket, key: base })) {
    const rel = o.key.slice(base.length);
    if (IMAGE_FILE.test(rel)) keys.push(rel);
  }
  return keys;
}

/** The bytes of image `key` under `loc`. */
export async function readImage(loc: Location, key: string, store?: ObjectStore): Promise<Uint8Array> {
  if (loc.kind === 'local') return new Uint8Array(await readFile(join(loc.dir, key)));
  return needStore(loc, store).getBytes({ bucket: loc.bucket, key: joinKey(loc.prefix, key) });
}

/**
 * The names (`score-…`, without `.jsonl`) of the record objects already
 * under `partitionRoot` (`capture/v1/model=<m>/version=<v>/`, any day) of `out`.
 */
export async function doneBatches(
  out: Location,
  partitionRoot: string,
  store?: ObjectStore,
): Promise<Set<string>> {
  const done = new Set<string>();
  const name = (path: string) => /(?:^|\/)(score-[0-9a-f]+)\.jsonl$/.exec(path)?.[1];
  if (out.kind === 'local') {
    let names: string[] = [];
    try {
      names = await readdir(join(out.dir, partitionRoot), { recursive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const n of names) {
      const b = name(n.split(sep).join('/'));
      if (b) done.add(b);
    }
    return done;
  }
  const s3 = needStore(out, store);
  for await (const o of s3.list({ bucket: out.bucket, key: joinKey(out.prefix, partitionRoot) })) {
    const b = name(o.key);
    if (b) done.add(b);
  }
  return done;
}

/** Write `text` at `key` under `out`, whole, once: 'exists' when another run wrote it meanwhile. */
export async function writeOnce(
  out: Location,
  key: string,
  text: string,
  store?: ObjectStore,
): Promise<'written' | 'exists'> {
  if (out.kind === 'local') {
    await writeFileAtomic(join(out.dir, key), text);
    return 'written';
  }
  try {
    await needStore(out, store).put({ bucket: out.bucket, key: joinKey(out.prefix, key) }, text, {
      contentType: 'application/x-ndjson',
      ifNoneMatch: true,
    });
    return 'written';
  } catch (e) {
    if (isProjectError(e) && e.code === 'CONFLICT') return 'exists';
    throw e;
  }
}

/** `capture/v1/model=<m>/version=<v>/`: where a model version's records go, under any day. */
export const versionRoot = (model: string, version: string): string =>
  `${CAPTURE_PREFIX}${captureVersionPartition(model, version)}/`;
