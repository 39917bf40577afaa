/**
 * The image-folder source: one sub-folder per class, PNG or JPEG files in it
 * (at any depth), as Keras' `image_dataset_from_directory` reads them:
 * class names are the sorted sub-folder names. Hidden entries (".name") are
 * skipped; loose files at the top level are ignored, as Keras does. Every
 * other file must be an image: a stray file is an error naming it.
 *
 * A folder whose top holds just `train/` and `test/`, each with the same
 * class sub-folders, is a dataset with its own test set (CIFAR-10 as
 * images): its items say which split folder they came from, and training
 * evaluates on `test/` when the config says `data.split.test: "folder"`.
 * Files are read and decoded several at a time (decoding runs on libuv's
 * thread pool), in a fixed order of results.
 *
 * @see https://keras.io/api/data_loading/image/#image_dataset_from_directory-function
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeImage } from '../../model/images.ts';
import { listFiles, ProjectError, sha256 } from '../../platform/index.ts';
import { computeDatasetDigest, type DigestEntry } from './digest.ts';
import type { Dataset, LabeledImage } from './types.ts';

const isHidden = (relpath: string): boolean => relpath.split('/').some((part) => part.startsWith('.'));

/** Throw NOT_FOUND / INVALID unless `root` is an existing folder. */
export async function requireFolder(root: string, what: string): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ProjectError('NOT_FOUND', `${root}: data path does not exist`, {
        subject: root,
        hint: `create it with one sub-folder per class, or fix the ${what} path`,
        cause: e,
      });
    }
    throw new ProjectError('INVALID', `${root}: cannot read data path (${code})`, {
      subject: root,
      cause: e,
    });
  }
  if (!info.isDirectory()) {
    throw new ProjectError('INVALID', `${root}: data path is a file, not a folder`, {
      subject: root,
      hint: `point the ${what} path at a folder with one sub-folder per class`,
    });
  }
}

/** Class names (sorted sub-folder names) and each class's image files (relative POSIX paths, sorted). */
export async function listImageFolder(root: string): Promise<{ labels: string[]; files: string[][] }> {
  await requireFolder(root, 'image-folder');
  const entries = await readdir(root, { withFileTypes: true });
  const labels = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (labels.length === 0) {
    throw new ProjectError('INVALID', `${root}: no class sub-folders`, {
      subject: root,
      hint: 'put the images of each class in their own sub-folder, e.g. cats/1.png, dogs/2.png',
    });
  }
  const files: string[][] = [];
  for (const label of labels) {
    const rel = (await listFiles(join(root, label))).filter((f) => !isHidden(f)).map((f) => `${label}/${f}`);
    if (rel.length === 0) {
      const dir = join(root, label);
      throw new ProjectError('INVALID', `${dir}: class folder "${label}" has no images`, {
        subject: dir,
        hint: 'add PNG or JPEG images to it, or remove the folder',
      });
    }
    files.push(rel);
  }
  return { labels, files };
}

/** The split folders an image folder may have at its top: `train/` and `test/`, each with one sub-folder per class. */
export const SPLIT_FOLDERS = ['train', 'test'] as const;
export type SplitFolder = (typeof SPLIT_FOLDERS)[number];

/**
 * True when `root` holds exactly the split folders `train/` and `test/` (and
 * nothing else but hidden entries and loose files), each holding only
 * folders: the layout of datasets that come with their own test set
 * (CIFAR-10 as images, many Kaggle sets). Else the folder is read as classes.
 */
export async function hasSplitFolders(root: string): Promise<boolean> {
  await requireFolder(root, 'image-folder');
  const dirs = (await readdir(root, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (dirs.join('/') !== 'test/train') return false;
  for (const d of dirs) {
    const inside = (await readdir(join(root, d), { withFileTypes: true })).filter(
      (e) => !e.name.startsWith('.'),
    );
    if (inside.length === 0 || inside.some((e) => !e.isDirectory())) return false;
  }
  return true;
}

/** At most this many images of each class are read: one number for every split folder, or one per split folder. */
export type PerClassLimit = number | { train?: number; test?: number };

export interface LoadImageFolderOptions {
  /** Refuse images larger than this many pixels (default 4096*4096). */
  maxPixels?: number;
  /** Called after each file: (files done, files in all). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Read only the first N images (by file name) of each class: a slice for
   * smoke tests. Every file is still hashed (the whole folder's digest is
   * `digest.whole`); the selection is part of the dataset digest.
   */
  maxPerClass?: PerClassLimit;
  /** Images decoded at once (default 16): decoding runs on libuv's thread pool. */
  concurrency?: number;
}

function limitFor(limit: PerClassLimit | undefined, split: SplitFolder | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (typeof limit === 'number') return limit;
  return (split ? limit[split] : undefined) ?? Number.POSITIVE_INFINITY;
}

/** One file to read: where, its id (POSIX path relative to the root), class, split folder, and whether it is decoded. */
interface Planned {
  rel: string;
  label: number;
  subset?: SplitFolder;
  decode: boolean;
}

/** Run `fn` over `items` with at most `limit` in flight, results in input order. */
async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * The files of an image folder, planned: a flat folder's classes, or, when it
 * has split folders ({@link hasSplitFolders}), `train/<class>/...` and
 * `test/<class>/...` with the same classes in both.
 */
async function planImageFolder(
  abs: string,
  opts: LoadImageFolderOptions,
): Promise<{ labels: string[]; plan: Planned[]; splitFolders: boolean }> {
  const plan: Planned[] = [];
  if (!(await hasSplitFolders(abs))) {
    const { labels, files } = await listImageFolder(abs);
    const max = limitFor(opts.maxPerClass, undefined);
    files.forEach((rels, label) => {
      rels.forEach((rel, i) => {
        plan.push({ rel, label, decode: i < max });
      });
    });
    return { labels, plan, splitFolders: false };
  }
  const train = await listImageFolder(join(abs, 'train'));
  const test = await listImageFolder(join(abs, 'test'));
  if (train.labels.join('\n') !== test.labels.join('\n')) {
    const onlyTrain = train.labels.filter((l) => !test.labels.includes(l));
    const onlyTest = test.labels.filter((l) => !train.labels.includes(l));
    throw new ProjectError(
      'INVALID',
      `${abs}: train/ and test/ have different classes (${[
        onlyTrain.length ? `only in train/: ${onlyTrain.join(', ')}` : '',
        onlyTest.length ? `only in test/: ${onlyTest.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')})`,
      { subject: abs, hint: 'give both split folders the same class sub-folders' },
    );
  }
  for (const [subset, listing] of [
    ['train', train],
    ['test', test],
  ] as const) {
    const max = limitFor(opts.maxPerClass, subset);
    listing.files.forEach((rels, label) => {
      rels.forEach((rel, i) => {
        plan.push({ rel: `${subset}/${rel}`, label, subset, decode: i < max });
      });
    });
  }
  return { labels: train.labels, plan, splitFolders: true };
}

/**
 * Load every image of an image folder, decoded, with its digest. A folder
 * with split folders (`train/` and `test/`, {@link hasSplitFolders}) gives
 * items whose `subset` says which; their ids keep the split folder
 * (`test/cat/0001.jpg`). A bad file (empty, not an image, truncated, too
 * large) fails the load with one ProjectError naming every bad file.
 */
export async function loadImageFolder(root: string, opts: LoadImageFolderOptions = {}): Promise<Dataset> {
  const abs = resolve(root);
  const { labels, plan, splitFolders } = await planImageFolder(abs, opts);
  const total = plan.length;
  const problems: ProjectError[] = [];
  let done = 0;
  const results = await mapConcurrent(plan, opts.concurrency ?? 16, async (p) => {
    const path = join(abs, p.rel);
    try {
      const bytes = await readFile(path);
      const entry: DigestEntry = { path: p.rel, sha256: sha256(bytes), label: labels[p.label]! };
      const item: LabeledImage | undefined = p.decode
        ? {
            id: p.rel,
            label: p.label,
            ...(p.subset ? { subset: p.subset } : {}),
            image: await decodeImage(bytes, { maxPixels: opts.maxPixels, source: path }),
          }
        : undefined;
      return { entry, item };
    } catch (e) {
      if (e instanceof ProjectError) problems.push(e);
      else {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        problems.push(
          new ProjectError('INVALID', `${path}: cannot read image (${code})`, {
            subject: path,
            hint: 'check its permissions, or remove it',
            cause: e,
          }),
        );
      }
      return undefined;
    } finally {
      opts.onProgress?.(++done, total);
    }
  });
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) {
    problems.sort((a, b) => ((a.subject ?? '') < (b.subject ?? '') ? -1 : 1));
    const shown = problems.slice(0, 20).map((p) => `  - ${p.message.split('\n')[0]}`);
    if (problems.length > 20) shown.push(`  - ... and ${problems.length - 20} more`);
    throw new ProjectError(
      'INVALID',
      `${abs}: ${problems.length} files are not usable images:\n${shown.join('\n')}`,
      {
        subject: problems[0]!.subject,
        hint: 'fix or remove these files (only PNG and JPEG images belong in class folders)',
        details: problems.map((p) => ({ code: p.code, subject: p.subject, message: p.message })),
      },
    );
  }
  const entries = results.map((r) => r!.entry);
  const items = results.flatMap((r) => (r?.item ? [r.item] : []));
  const sliced = plan.some((p) => !p.decode);
  const digest = sliced
    ? {
        ...computeDatasetDigest(entries, selectionOf(opts.maxPerClass)),
        whole: computeDatasetDigest(entries).root,
      }
    : computeDatasetDigest(entries);
  return {
    source: 'image-folder',
    root: abs,
    labels,
    items,
    digest,
    ...(splitFolders ? { splitFolders: [...SPLIT_FOLDERS] } : {}),
  };
}

/** The selection record of a per-class limit (part of the dataset digest). */
function selectionOf(limit: PerClassLimit | undefined): Record<string, number> {
  if (limit === undefined) return {};
  if (typeof limit === 'number') return { maxPerClass: limit };
  const out: Record<string, number> = {};
  if (limit.train !== undefined) out.maxPerClassTrain = limit.train;
  if (limit.test !== undefined) out.maxPerClassTest = limit.test;
  return out;
}
