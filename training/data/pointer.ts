/**
 * Data versioned in Git by pointer, as DVC does with its `.dvc` files: the
 * data itself lives outside the repository (an archive at an HTTP(S) URL, or
 * at an `s3://bucket/key` URL in the object store), and
 * a small JSON file committed under `data/` names it with two digests:
 *
 *   data/<name>.json  { "pointerVersion": 1, "name", "uri", "sha256", "digest" }
 *
 * `sha256` is the archive's bytes: the download is checked against it before
 * anything is extracted. `digest` is the dataset digest of the extracted files
 * (./digest.ts computeDatasetDigest, the same `sha256:<hex>` training writes to
 * training.json, models.lock.json and the MLflow run): the extracted folder
 * must give exactly that. So a pull request that changes the pointer changes
 * what is trained (train.yml runs on `data/**`), and the lock entry's
 * `datasetDigest` equals the pointer's `digest`. See docs/data.md.
 *
 * The archive is a tar (optionally gzip-compressed) of an image folder: one
 * sub-folder per class (./image-folder.ts). `packDataPointer` makes both the
 * archive and the pointer from a folder.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sha256File } from '../../platform/digest.ts';
import {
  compileValidator,
  ProjectError,
  readJsonFile,
  stableStringify,
  writeFileAtomic,
} from '../../platform/index.ts';
import { isS3Url, type ObjectStore, parseS3Url } from '../../platform/object-store/index.ts';
import { downloadVerified } from './download.ts';
import { listImageFolder, loadImageFolder, type PerClassLimit } from './image-folder.ts';
import { readTarFile, writeTarGz } from './tar.ts';
import type { Dataset } from './types.ts';

/** A data pointer file (data/<name>.json). */
export interface DataPointer {
  pointerVersion: 1;
  /** Dataset name: the MLflow dataset name, lowercase. */
  name: string;
  /** Where the archive is: an http(s) URL the runner can read, or `s3://bucket/key` in the object store. */
  uri: string;
  /** Hex sha256 of the archive bytes. */
  sha256: string;
  /** "sha256:<hex>": the dataset digest of the extracted image folder. */
  digest: string;
  /** Free text for reviewers (where the data came from, what changed). */
  description?: string;
}

const validatePointer = compileValidator<DataPointer>({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['pointerVersion', 'name', 'uri', 'sha256', 'digest'],
  properties: {
    pointerVersion: { const: 1 },
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,99}$' },
    uri: { type: 'string', pattern: '^(https?|s3)://' },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
    description: { type: 'string' },
  },
});

/** The schema's check, then an `s3://` uri's bucket and key (platform/object-store parseS3Url). */
function validDataPointer(value: unknown, path: string): DataPointer {
  const pointer = validatePointer(value, path);
  if (isS3Url(pointer.uri)) {
    try {
      parseS3Url(pointer.uri);
    } catch (e) {
      throw new ProjectError('INVALID', `${path}: uri: ${(e as Error).message}`, { subject: path, cause: e });
    }
  }
  return pointer;
}

/** Read and validate a pointer file; INVALID names every bad field, NOT_FOUND the file. */
export async function readDataPointer(path: string): Promise<DataPointer> {
  return validDataPointer(await readJsonFile(path), path);
}

/** The marker a materialized folder carries: which archive it was extracted from. */
const MARKER = '.data-pointer.json';

async function markerOf(dir: string): Promise<{ sha256?: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MARKER), 'utf8')) as { sha256?: string };
  } catch {
    return undefined;
  }
}

/** True when `dir` is missing or an empty folder. */
async function isAbsentOrEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
}

/** A safe relative POSIX path inside the archive, or undefined (absolute, `..`, empty). */
function safeName(name: string): string | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (name.startsWith('/') || parts.length === 0 || parts.some((p) => p === '..')) return undefined;
  return parts.join('/');
}

/**
 * Extract the (optionally gzipped) tar `archive` from `uri` into `dir`,
 * streaming: its regular files only; an entry that would leave `dir` stops it
 * (INVALID), and the caller drops the folder it extracted into.
 */
async function extractArchive(archive: string, dir: string, uri: string): Promise<void> {
  const made = new Set<string>();
  await readTarFile(archive, uri, async (entry, body) => {
    if (entry.type !== 'file') return;
    const name = safeName(entry.name);
    if (!name) {
      throw new ProjectError('INVALID', `${uri}: archive entries leave the data folder: ${entry.name}`, {
        subject: uri,
        hint: 'pack the archive with `npm run data -- pack` (relative paths only)',
      });
    }
    const file = join(dir, ...name.split('/'));
    const parent = dirname(file);
    if (!made.has(parent)) {
      await mkdir(parent, { recursive: true });
      made.add(parent);
    }
    await pipeline(body, createWriteStream(file));
  });
}

export interface MaterializeOptions {
  fetch?: typeof fetch;
  /** The object store, for an archive at an `s3://` URL. */
  objectStore?: ObjectStore;
  onProgress?: (done: number, total: number | undefined) => void;
  progressBar?: NodeJS.WritableStream | false;
  /** The pointer file, for messages. */
  pointerPath?: string;
  /** Decode only the first N images of each class (./image-folder.ts); the whole folder is still checked against the pointer's digest. */
  maxPerClass?: PerClassLimit;
}

/**
 * Make `dir` hold the data `pointer` names: when it already holds that
 * archive's files (its marker), nothing is fetched; otherwise the archive is
 * downloaded with its sha256 checked (training/data/download.ts), extracted
 * into a temp folder beside `dir` (entries that would leave it are refused),
 * and renamed into place. A folder that is not empty and not a materialized
 * pointer is never overwritten (CONFLICT). Then the folder is loaded and its
 * dataset digest must be the pointer's `digest` (DIGEST_MISMATCH otherwise).
 */
export async function materializeDataPointer(
  pointer: DataPointer,
  dir: string,
  options: MaterializeOptions = {},
): Promise<Dataset> {
  const where = options.pointerPath ?? pointer.name;
  const root = resolve(dir);
  const marker = await markerOf(root);
  if (marker?.sha256 !== pointer.sha256) {
    if (!marker && !(await isAbsentOrEmpty(root))) {
      throw new ProjectError(
        'CONFLICT',
        `${root} holds files that did not come from a data pointer; not overwriting them with ${where}`,
        { subject: root, hint: 'point data.path at an empty folder (or remove this one)' },
      );
    }
    await mkdir(dirname(root), { recursive: true });
    const tmp = join(dirname(root), `.${basename(root)}.${randomBytes(4).toString('hex')}.tmp`);
    const archive = `${tmp}.archive`;
    try {
      await downloadVerified(pointer.uri, archive, {
        checksum: `sha256:${pointer.sha256}`,
        fetch: options.fetch,
        objectStore: options.objectStore,
        onProgress: options.onProgress,
        progressBar: options.progressBar,
      });
      await extractArchive(archive, tmp, pointer.uri);
      await writeFile(
        join(tmp, MARKER),
        stableStringify({ name: pointer.name, sha256: pointer.sha256, uri: pointer.uri }),
      );
      await rm(root, { recursive: true, force: true });
      await rename(tmp, root);
    } finally {
      await rm(archive, { force: true });
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const dataset = await loadImageFolder(root, {
    onProgress: options.onProgress,
    ...(options.maxPerClass !== undefined ? { maxPerClass: options.maxPerClass } : {}),
  });
  const whole = dataset.digest.whole ?? dataset.digest.root;
  if (whole !== pointer.digest) {
    throw new ProjectError(
      'DIGEST_MISMATCH',
      `${where}: the data at ${pointer.uri} gives dataset digest ${whole}, but the pointer says ${pointer.digest}`,
      {
        subject: where,
        hint: 'the archive is not the data the pointer was made from: pack it again (npm run data -- pack) and commit the new pointer',
        details: { expected: pointer.digest, actual: whole },
      },
    );
  }
  return dataset;
}

export interface PackOptions {
  /** Dataset name (default: the folder's name). */
  name?: string;
  /** Where the archive will be served from (the pointer's `uri`). */
  uri: string;
  /** Where to write the archive (a .tar.gz) for upload. */
  archivePath: string;
  /** Where to write the pointer (data/<name>.json). */
  pointerPath: string;
  description?: string;
}

/** A packed archive: its sha256 and the dataset digest of the folder it holds. */
export interface PackedArchive {
  /** Hex sha256 of the archive bytes (the pointer's `sha256`). */
  sha256: string;
  /** "sha256:<hex>": the dataset digest of the folder (the pointer's `digest`). */
  digest: string;
  /** Class names of the folder. */
  labels: string[];
  /** Image files packed. */
  files: number;
}

/**
 * Pack an image folder into a deterministic .tar.gz at `archivePath` (sorted
 * entries, fixed header fields: the same files give the same bytes). `extra`
 * files go at the top of the archive, beside the class (or split) folders:
 * loose top-level files, which the image-folder reader ignores and the
 * dataset digest does not cover (the archive's sha256 does): metadata such as
 * the flywheel's provenance manifest.
 */
export async function packDataArchive(
  folder: string,
  archivePath: string,
  extra: readonly { name: string; data: Uint8Array | string }[] = [],
): Promise<PackedArchive> {
  const dataset = await loadImageFolder(folder);
  const files = (await listImageFolder(folder)).files.flat().sort();
  for (const e of extra) {
    if (e.name.includes('/') || e.name.startsWith('.') || files.some((f) => f.split('/')[0] === e.name)) {
      throw new ProjectError(
        'INVALID',
        `${e.name}: not a loose top-level file name for ${folder}'s archive`,
        {
          subject: e.name,
        },
      );
    }
  }
  // Sorted by name: the images are read one at a time as the archive is written.
  const entries = [
    ...files.map((name) => ({ name, read: () => readFile(join(folder, ...name.split('/'))) })),
    ...extra.map((e) => ({
      name: e.name,
      read: async () => (typeof e.data === 'string' ? Buffer.from(e.data) : e.data),
    })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  async function* contents() {
    for (const e of entries) yield { name: e.name, data: await e.read() };
  }
  const tmp = `${archivePath}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeTarGz(tmp, contents());
    const sha256 = await sha256File(tmp);
    await rename(tmp, archivePath);
    return { sha256, digest: dataset.digest.root, labels: dataset.labels, files: files.length };
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Validate `pointer` and write it to `path` atomically (stable key order): the old file stays whole until the new one is. */
export async function writeDataPointer(path: string, pointer: DataPointer): Promise<DataPointer> {
  const valid = validDataPointer(pointer, path);
  await writeFileAtomic(path, stableStringify(valid));
  return valid;
}

/**
 * Pack an image folder into a deterministic .tar.gz ({@link packDataArchive})
 * and write its pointer; the caller uploads the archive to `uri`. The digest
 * is computed from the folder as training will read it.
 */
export async function packDataPointer(folder: string, options: PackOptions): Promise<DataPointer> {
  const packed = await packDataArchive(folder, options.archivePath);
  return writeDataPointer(options.pointerPath, {
    pointerVersion: 1,
    name: options.name ?? basename(resolve(folder)).toLowerCase(),
    uri: options.uri,
    sha256: packed.sha256,
    digest: packed.digest,
    ...(options.description ? { description: options.description } : {}),
  });
}

/**
 * Upload a packed archive to its `s3://` URI in the object store. Never over
 * an existing object (CONFLICT): a pointer names an archive by its sha256, so
 * replacing the bytes under a key would break every pointer to it.
 */
export async function uploadDataArchive(archivePath: string, uri: string, store: ObjectStore): Promise<void> {
  const ref = parseS3Url(uri);
  if (await store.head(ref)) {
    throw new ProjectError('CONFLICT', `${uri} already exists; not replacing it with ${archivePath}`, {
      subject: uri,
      hint: 'a pointer names its archive by sha256: pack the new data to a new key (e.g. with a date or version in it)',
    });
  }
  await store.upload(ref, createReadStream(archivePath), { contentType: 'application/gzip' });
}
