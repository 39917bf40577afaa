/**
 * The image-folder source: one sub-folder per class, PNG or JPEG files in it
 * (at any depth), as Keras' `image_dataset_from_directory` reads them:
 * class names are the sorted sub-folder names. Hidden entries (".name") are
 * skipped; loose files at the top level are ignored, as Keras does. Every
 * other file must be an image: a stray file is an error naming it.
 *
 * @see https://keras.io/api/data_loading/image/#image_dataset_from_directory-function
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeImage } from '../../model/images.ts';
import { listFiles, ProjectError, sha256 } from '../../platform/index.ts';
import { computeDatasetDigest, type DigestEntry } from './digest.ts';
import type { Dataset, LabeledImage } from './types.ts';

export interface LoadImageFolderOptions {
  /** Refuse images larger than this many pixels (default 4096*4096). */
  maxPixels?: number;
  /** Called after each file: (files done, files in all). */
  onProgress?: (done: number, total: number) => void;
}

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

/**
 * Load every image of an image folder, decoded, with its digest. A bad file
 * (empty, not an image, truncated, too large) fails the load with one
 * ProjectError naming every bad file.
 */
export async function loadImageFolder(root: string, opts: LoadImageFolderOptions = {}): Promise<Dataset> {
  const abs = resolve(root);
  const { labels, files } = await listImageFolder(abs);
  const total = files.reduce((n, f) => n + f.length, 0);
  const items: LabeledImage[] = [];
  const digestEntries: DigestEntry[] = [];
  const problems: ProjectError[] = [];
  let done = 0;
  for (const [label, rels] of files.entries()) {
    for (const rel of rels) {
      const path = join(abs, rel);
      try {
        const bytes = await readFile(path);
        digestEntries.push({ path: rel, sha256: sha256(bytes), label: labels[label]! });
        items.push({
          id: rel,
          label,
          image: await decodeImage(bytes, { maxPixels: opts.maxPixels, source: path }),
        });
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
      }
      opts.onProgress?.(++done, total);
    }
  }
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) {
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
  return { source: 'image-folder', root: abs, labels, items, digest: computeDatasetDigest(digestEntries) };
}
