/**
 * One entry point over the three data sources, from the `data` section of
 * a training config; an image folder may come through a data pointer
 * (./pointer.ts). Every dataset carries its origin (name, source) for lineage.
 */
import { basename, resolve } from 'node:path';
import { ProjectError } from '../../platform/index.ts';
import { isS3Url, type ObjectStore } from '../../platform/object-store/index.ts';
import { loadCifar10 } from './cifar10.ts';
import { generateDemoDataset } from './generated.ts';
import { loadImageFolder, type PerClassLimit } from './image-folder.ts';
import { materializeDataPointer, readDataPointer } from './pointer.ts';
import type { DataSourceKind, Dataset } from './types.ts';

export interface DataSourceSpec {
  kind: DataSourceKind;
  /** Data root: the image folder, the CIFAR-10 folder, or where to generate. */
  path: string;
  /** generated: PRNG seed (default 42). */
  seed?: number;
  /** generated: images per class (default 400). */
  perClass?: number;
  /** generated: side in pixels (default 16 grayscale, 32 RGB). */
  size?: number;
  /** generated: 1 or 3 channels (default 1). */
  channels?: 1 | 3;
  /** image-folder/generated: pixel limit per image. */
  maxPixels?: number;
  /** cifar10: download when the folder is empty (default true), from url with md5. */
  download?: boolean;
  url?: string;
  md5?: string;
  /** cifar10: first N records of each batch only. */
  maxPerBatch?: number;
  /** image-folder: decode only the first N images of each class (of each split folder); recorded in the digest. */
  maxPerClass?: PerClassLimit;
  /** image-folder: a data pointer file (data/<name>.json); `path` is where its archive is extracted. */
  pointer?: string;
  /** Progress of loading or downloading. */
  onProgress?: (done: number, total: number | undefined) => void;
  fetch?: typeof fetch;
  /** The object store, for a pointer whose archive is at an `s3://` URL. */
  objectStore?: ObjectStore;
}

/**
 * Load a dataset. `generated` generates into `path` when it is empty (or was
 * generated with other settings), then reads it back as an image folder.
 */
export async function loadDataSource(spec: DataSourceSpec): Promise<Dataset> {
  const ds = await load(spec);
  return {
    ...ds,
    origin: ds.origin ?? {
      name: basename(resolve(spec.path)),
      source: { kind: 'local', path: resolve(spec.path) },
    },
  };
}

async function load(spec: DataSourceSpec): Promise<Dataset> {
  if (spec.pointer !== undefined && spec.kind !== 'image-folder') {
    throw new ProjectError('USAGE', `data.pointer needs data.kind "image-folder" (got "${spec.kind}")`, {
      subject: 'data.pointer',
      hint: 'a pointer names an archive of an image folder; set data.kind to image-folder',
    });
  }
  switch (spec.kind) {
    case 'image-folder': {
      if (spec.pointer === undefined) {
        return loadImageFolder(spec.path, {
          maxPixels: spec.maxPixels,
          onProgress: spec.onProgress,
          ...(spec.maxPerClass !== undefined ? { maxPerClass: spec.maxPerClass } : {}),
        });
      }
      const pointer = await readDataPointer(spec.pointer);
      const ds = await materializeDataPointer(pointer, spec.path, {
        pointerPath: spec.pointer,
        fetch: spec.fetch,
        objectStore: spec.objectStore,
        onProgress: spec.onProgress,
        ...(spec.maxPerClass !== undefined ? { maxPerClass: spec.maxPerClass } : {}),
      });
      const source = isS3Url(pointer.uri)
        ? ({ kind: 's3', uri: pointer.uri } as const)
        : ({ kind: 'http', url: pointer.uri } as const);
      return { ...ds, origin: { name: pointer.name, source, pointer: spec.pointer } };
    }
    case 'cifar10':
      return loadCifar10(spec.path, {
        download: spec.download,
        url: spec.url,
        md5: spec.md5,
        maxPerBatch: spec.maxPerBatch,
        onProgress: spec.onProgress,
      });
    case 'generated': {
      const gen = await generateDemoDataset(spec.path, {
        seed: spec.seed ?? 42,
        perClass: spec.perClass,
        size: spec.size,
        channels: spec.channels,
      });
      const ds = await loadImageFolder(gen.root, { maxPixels: spec.maxPixels, onProgress: spec.onProgress });
      return { ...ds, source: 'generated' };
    }
    default:
      throw new ProjectError('USAGE', `data source kind "${(spec as { kind: string }).kind}" is not known`, {
        subject: 'data.kind',
        hint: 'use image-folder, cifar10 or generated',
      });
  }
}
