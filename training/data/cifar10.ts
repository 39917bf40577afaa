/**
 * The CIFAR-10 source, binary version: `data_batch_1.bin` … `data_batch_5.bin`
 * and `test_batch.bin`, each a run of 3073-byte records (1 label byte, then
 * 1024 bytes red, 1024 green, 1024 blue, row-major 32x32), and
 * `batches.meta.txt` with the 10 class names, one a line. An empty (or
 * missing) folder is filled by downloading the official archive, checking its
 * md5 and extracting it.
 *
 * @see https://www.cs.toronto.edu/~kriz/cifar.html "Binary version"
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ProjectError, sha256, writeFileAtomic } from '../../platform/index.ts';
import { computeDatasetDigest, type DigestEntry } from './digest.ts';
import { downloadVerified } from './download.ts';
import { isGzip, readBody, readTarFile } from './tar.ts';
import type { Dataset, LabeledImage } from './types.ts';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_META_FILE = 'batches.meta.txt';
const ALL_FILES = [CIFAR10_META_FILE, ...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE];
const SIDE = 32;
const PIXELS = SIDE * SIDE;
export const CIFAR10_RECORD_BYTES = 1 + 3 * PIXELS;
/** The archive's own folder, accepted as well as the files directly in the root. */
const ARCHIVE_FOLDER = 'cifar-10-batches-bin';

export interface LoadCifar10Options {
  /** Download the archive when the folder is empty or missing (default true). */
  download?: boolean;
  /** Archive URL (default the official one). */
  url?: string;
  /** Archive md5 (hex), or "sha256:<hex>" (default the official md5). */
  md5?: string;
  /** Read only the first N records of each batch file (recorded in the digest). */
  maxPerBatch?: number;
  fetch?: typeof fetch;
  /** Download progress: (bytes so far, total or undefined). */
  onProgress?: (done: number, total: number | undefined) => void;
  /** cli-progress bar stream for the download (default: stderr when a TTY; false for none). */
  progressBar?: NodeJS.WritableStream | false;
}

async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new ProjectError('INVALID', `${dir}: CIFAR-10 data path is a file, not a folder`, {
        subject: dir,
        hint: 'point it at a folder (empty to download the data set)',
        cause: e,
      });
    }
    throw e;
  }
}

/** Download and extract the archive's data files into `root` (flattened). */
async function downloadInto(root: string, url: string, checksum: string, opts: LoadCifar10Options) {
  await mkdir(root, { recursive: true });
  const archive = join(root, `.cifar-10-binary.${randomBytes(4).toString('hex')}.tar.gz`);
  try {
    await downloadVerified(url, archive, {
      checksum,
      fetch: opts.fetch,
      onProgress: opts.onProgress,
      progressBar: opts.progressBar,
    });
    if (!(await isGzip(archive))) {
      throw new ProjectError('INVALID', `${url}: not a gzip archive`, {
        subject: url,
        hint: 'check the URL points at cifar-10-binary.tar.gz',
      });
    }
    // Streamed: each data file (about 30 MB) is read whole and written, one at a time.
    const found = new Set<string>();
    await readTarFile(archive, url, async (entry, body) => {
      const file = basename(entry.name);
      if (entry.type !== 'file' || !ALL_FILES.includes(file)) return;
      await writeFileAtomic(join(root, file), await readBody(body));
      found.add(file);
    });
    const missing = ALL_FILES.filter((f) => !found.has(f));
    if (missing.length > 0) {
      throw new ProjectError('INVALID', `${url}: archive lacks ${missing.join(', ')}`, {
        subject: url,
        hint: 'check the URL points at the CIFAR-10 *binary* version',
      });
    }
  } finally {
    await rm(archive, { force: true });
  }
}

function parseBatch(bytes: Uint8Array, file: string, path: string, labels: string[], max?: number) {
  const subset = file === CIFAR10_TEST_FILE ? 'test' : 'train';
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new ProjectError(
      'INVALID',
      `${path}: ${bytes.length} bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 records`,
      {
        subject: path,
        hint: 'the file is truncated or not CIFAR-10 binary; delete the folder to download again',
      },
    );
  }
  const count = Math.min(bytes.length / CIFAR10_RECORD_BYTES, max ?? Number.POSITIVE_INFINITY);
  const items: LabeledImage[] = [];
  for (let r = 0; r < count; r++) {
    const o = r * CIFAR10_RECORD_BYTES;
    const label = bytes[o]!;
    if (label >= labels.length) {
      throw new ProjectError(
        'INVALID',
        `${path}: record ${r} has label ${label}, but there are ${labels.length} classes`,
        {
          subject: path,
          hint: 'the file is corrupt or does not match batches.meta.txt',
        },
      );
    }
    const data = new Uint8Array(PIXELS * 3);
    for (let p = 0; p < PIXELS; p++) {
      data[p * 3] = bytes[o + 1 + p]!;
      data[p * 3 + 1] = bytes[o + 1 + PIXELS + p]!;
      data[p * 3 + 2] = bytes[o + 1 + 2 * PIXELS + p]!;
    }
    items.push({
      id: `${file}#${r}`,
      label,
      subset,
      image: { width: SIDE, height: SIDE, channels: 3, data },
    });
  }
  return items;
}

/**
 * Load CIFAR-10 (binary version) from `root`, downloading it first when the
 * folder is empty or missing. Item ids are "<batch file>#<record index>".
 */
export async function loadCifar10(root: string, opts: LoadCifar10Options = {}): Promise<Dataset> {
  const abs = resolve(root);
  let names = await entriesOf(abs);
  if ((names === undefined || names.length === 0) && opts.download !== false) {
    await downloadInto(abs, opts.url ?? CIFAR10_URL, opts.md5 ?? CIFAR10_MD5, opts);
    names = await entriesOf(abs);
  }
  if (names === undefined) {
    throw new ProjectError('NOT_FOUND', `${abs}: CIFAR-10 data path does not exist`, {
      subject: abs,
      hint: 'create it empty and allow the download, or fix the path',
    });
  }
  const dir =
    !names.includes(CIFAR10_META_FILE) && names.includes(ARCHIVE_FOLDER) ? join(abs, ARCHIVE_FOLDER) : abs;
  const present = (await entriesOf(dir)) ?? [];
  const missing = ALL_FILES.filter((f) => !present.includes(f));
  if (missing.length > 0) {
    throw new ProjectError('INVALID', `${dir}: not a CIFAR-10 binary folder, missing ${missing.join(', ')}`, {
      subject: dir,
      hint: 'empty the folder to download CIFAR-10, or extract cifar-10-binary.tar.gz into it',
    });
  }
  const metaPath = join(dir, CIFAR10_META_FILE);
  const metaBytes = await readFile(metaPath);
  const labels = metaBytes
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (labels.length < 2) {
    throw new ProjectError('INVALID', `${metaPath}: expected one class name a line, found ${labels.length}`, {
      subject: metaPath,
      hint: 'restore batches.meta.txt from the archive',
    });
  }
  const digestEntries: DigestEntry[] = [
    { path: CIFAR10_META_FILE, sha256: sha256(metaBytes), label: 'meta' },
  ];
  const items: LabeledImage[] = [];
  for (const file of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) {
    const path = join(dir, file);
    const bytes = await readFile(path);
    digestEntries.push({
      path: file,
      sha256: sha256(bytes),
      label: file === CIFAR10_TEST_FILE ? 'test' : 'train',
    });
    items.push(...parseBatch(bytes, file, path, labels, opts.maxPerBatch));
  }
  const selection = opts.maxPerBatch !== undefined ? { maxPerBatch: opts.maxPerBatch } : undefined;
  return {
    source: 'cifar10',
    root: dir,
    labels,
    items,
    digest: computeDatasetDigest(digestEntries, selection),
    splitFolders: ['train', 'test'],
  };
}
