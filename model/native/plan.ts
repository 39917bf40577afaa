/**
 * What the set-up of a variant downloads, without downloading it: the
 * TensorFlow wheel, and for gpu the `and-cuda` pins read from the METADATA
 * of the TensorFlow wheel (kept in any installed libtensorflow folder; the
 * cpu and gpu wheels of one version declare the same `and-cuda` extra).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import {
  cacheRoot,
  libtensorflowDir,
  type Pin,
  TENSORFLOW_VERSION,
  VARIANTS,
  type Variant,
} from './layout.ts';
import { cudaFilesFor, cudaPinsFromMetadata, parsePins } from './wheel.ts';

/** The `and-cuda` pins: TFJS_NATIVE_CUDA_PINS, else the cached METADATA of either variant. */
export async function cudaPins(env: Record<string, string | undefined>): Promise<Pin[]> {
  if (env.TFJS_NATIVE_CUDA_PINS) return parsePins(env.TFJS_NATIVE_CUDA_PINS, 'TFJS_NATIVE_CUDA_PINS');
  for (const v of ['gpu', 'cpu'] as const) {
    const path = join(libtensorflowDir(cacheRoot(env), v), 'METADATA');
    if (existsSync(path)) return cudaPinsFromMetadata(await readFile(path, 'utf8'), path);
  }
  throw new ProjectError('NOT_FOUND', `no TensorFlow ${TENSORFLOW_VERSION} METADATA in ${cacheRoot(env)}`, {
    hint: `run \`bash ${VARIANTS.cpu.setupStep}\` first (it keeps the wheel's METADATA), or set TFJS_NATIVE_CUDA_PINS`,
  });
}

/** Lines to print: one `name==version` per wheel, with what TensorFlow loads from it. */
export async function planDownloads(
  variant: Variant,
  env: Record<string, string | undefined>,
): Promise<string[]> {
  const lines = [
    `${VARIANTS[variant].wheel}==${TENSORFLOW_VERSION}  -> tensorflow/libtensorflow_cc.so.2, libtensorflow_framework.so.2, C headers`,
  ];
  if (variant === 'gpu') {
    for (const c of cudaFilesFor(await cudaPins(env))) {
      lines.push(
        `${c.pin.name}==${c.pin.version}  -> ${c.files.join(', ')}${c.component.required ? '' : ' (optional)'}`,
      );
    }
  }
  return lines;
}
