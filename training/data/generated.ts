/**
 * The built-in demo data set: four classes of simple shapes (circle, cross,
 * square, triangle), deterministic from a seed, written as real PNG files
 * into an image folder (one sub-folder per class) that `loadImageFolder`
 * reads back. Learnable by a small CNN on 16x16 grayscale.
 *
 * Writes are all-or-nothing: the folder is built beside the target and
 * renamed into place. A non-empty folder that this generator did not write
 * (no `.generated.json` marker) is never touched.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { encodePng } from '../../model/images.ts';
import { ProjectError, readJsonFile, stableStringify } from '../../platform/index.ts';
import { mulberry32 } from './rng.ts';
import { drawShape, SHAPES } from './shapes.ts';

export const GENERATED_MARKER = '.generated.json';

export interface GenerateOptions {
  seed: number;
  /** Images per class (default 400). */
  perClass?: number;
  /** Side in pixels (default 16 for grayscale, 32 for RGB). */
  size?: number;
  /** 1 = grayscale (default), 3 = RGB. */
  channels?: 1 | 3;
}

export interface GeneratedDataset {
  root: string;
  labels: string[];
  files: number;
}

interface Marker {
  generator: 'shapes';
  version: 1;
  seed: number;
  perClass: number;
  size: number;
  channels: 1 | 3;
  labels: string[];
  files: number;
}

function resolveOptions(opts: GenerateOptions): Omit<Marker, 'labels' | 'files' | 'generator' | 'version'> {
  const channels = opts.channels ?? 1;
  const size = opts.size ?? (channels === 3 ? 32 : 16);
  const perClass = opts.perClass ?? 400;
  const bad = (field: string, value: unknown, want: string) =>
    new ProjectError('USAGE', `generated data set: ${field} is ${JSON.stringify(value)}, expected ${want}`, {
      subject: field,
    });
  if (!Number.isInteger(opts.seed)) throw bad('seed', opts.seed, 'an integer');
  if (!Number.isInteger(perClass) || perClass < 1) throw bad('perClass', perClass, 'an integer >= 1');
  if (!Number.isInteger(size) || size < 8 || size > 256) throw bad('size', size, 'an integer from 8 to 256');
  if (channels !== 1 && channels !== 3) throw bad('channels', channels, '1 or 3');
  return { seed: opts.seed, perClass, size, channels };
}

/** A per-image seed, so that image i of a class is the same whatever perClass is. */
const imageSeed = (seed: number, cls: number, i: number): number =>
  (seed ^ Math.imul(cls + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;

async function readMarker(root: string): Promise<Marker | undefined> {
  try {
    return (await readJsonFile(join(root, GENERATED_MARKER))) as Marker;
  } catch (e) {
    if (e instanceof ProjectError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
}

async function listOrUndefined(root: string): Promise<string[] | undefined> {
  try {
    return await readdir(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') {
      throw new ProjectError('INVALID', `${root}: is a file; the generated data set needs a folder`, {
        subject: root,
        hint: 'choose a folder path that does not exist yet or is empty',
        cause: e,
      });
    }
    throw e;
  }
}

/**
 * Write the demo data set into `root` (absent or empty, or written earlier by
 * this generator), then return its class names and file count. When `root`
 * already holds the same generation (same seed, sizes, count), nothing is
 * rewritten.
 *
 * @throws ProjectError CONFLICT when `root` is non-empty and not generated here.
 */
export async function generateDemoDataset(root: string, opts: GenerateOptions): Promise<GeneratedDataset> {
  const abs = resolve(root);
  const params = resolveOptions(opts);
  const labels = [...SHAPES];
  const marker: Marker = {
    generator: 'shapes',
    version: 1,
    ...params,
    labels,
    files: labels.length * params.perClass,
  };
  const existing = await listOrUndefined(abs);
  if (existing !== undefined && existing.length > 0) {
    const old = await readMarker(abs);
    if (!old) {
      throw new ProjectError('CONFLICT', `${abs}: folder is not empty and was not written by the generator`, {
        subject: abs,
        hint: 'choose an empty or new folder for the generated data set; nothing was changed',
      });
    }
    if (stableStringify(old) === stableStringify(marker)) return { root: abs, labels, files: marker.files };
  }

  const parent = dirname(abs);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(abs)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    for (const [cls, label] of labels.entries()) {
      await mkdir(join(tmp, label), { recursive: true });
      for (let i = 0; i < params.perClass; i++) {
        const image = drawShape(
          label,
          params.size,
          params.channels,
          mulberry32(imageSeed(params.seed, cls, i)),
        );
        // Stored (level 0), unfiltered: the bytes, and so the digest, do not depend on the zlib build.
        const png = encodePng(image, { deflateLevel: 0, filterType: 0 });
        await writeFile(join(tmp, label, `${label}_${String(i).padStart(4, '0')}.png`), png);
      }
    }
    await writeFile(join(tmp, GENERATED_MARKER), stableStringify(marker));
    if (existing === undefined) {
      await rename(tmp, abs);
    } else if (existing.length === 0) {
      await rmdir(abs);
      await rename(tmp, abs);
    } else {
      // Our own earlier generation: swap it out, then delete it.
      const trash = join(parent, `.${basename(abs)}.${randomBytes(4).toString('hex')}.old`);
      await rename(abs, trash);
      await rename(tmp, abs);
      await rm(trash, { recursive: true, force: true });
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return { root: abs, labels, files: marker.files };
}
