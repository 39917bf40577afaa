/**
 * The one preprocessing module, used by training now and by serving later, so
 * that the two cannot skew: decode (PNG/JPEG by magic bytes), convert
 * channels (grayscale by ITU-R BT.601 luma, RGB by replication; alpha
 * dropped), resize (bilinear, half-pixel centres), normalise
 * `(x * scale - mean[c]) / std[c]`. The spec travels with the model as
 * `preprocessing.json` (see docs/artifact.md).
 *
 * @see https://www.itu.int/rec/R-REC-BT.601 luma weights 0.299, 0.587, 0.114
 * @see https://www.tensorflow.org/api_docs/python/tf/image/resize half-pixel bilinear
 */
import * as tf from '@tensorflow/tfjs';
import { compileValidator, ProjectError } from '../platform/index.ts';
import type { DecodedImage } from './images.ts';

export type { DecodedImage, DecodeOptions, ImageFormat, ImageHeader, InspectedImage } from './images.ts';
export {
  DEFAULT_MAX_JPEG_SCANS,
  DEFAULT_MAX_PIXELS,
  decodeImage,
  encodePng,
  inspectImage,
  readImageHeader,
  sniffFormat,
} from './images.ts';

/** What a model expects as input; written with the model as preprocessing.json. */
export interface PreprocessingSpec {
  version: 1;
  width: number;
  height: number;
  channels: 1 | 3;
  resize: 'bilinear';
  scale: number;
  /** One value per channel, subtracted after scaling. */
  mean: number[];
  /** One value per channel (> 0), divided by after subtracting the mean. */
  std: number[];
}

const perChannel = (n: 1 | 3) => ({
  properties: {
    channels: { const: n },
    mean: { type: 'array', minItems: n, maxItems: n },
    std: { type: 'array', minItems: n, maxItems: n },
  },
});

/** JSON Schema (2020-12) of preprocessing.json. */
export const preprocessingSpecSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'PreprocessingSpec',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'width', 'height', 'channels', 'resize', 'scale', 'mean', 'std'],
  properties: {
    version: { const: 1 },
    width: { type: 'integer', minimum: 1, maximum: 4096 },
    height: { type: 'integer', minimum: 1, maximum: 4096 },
    channels: { enum: [1, 3] },
    resize: { const: 'bilinear' },
    scale: { type: 'number', exclusiveMinimum: 0 },
    mean: { type: 'array', items: { type: 'number' } },
    std: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 } },
  },
  // Mean and std must have one value per channel.
  allOf: [
    // biome-ignore lint/suspicious/noThenProperty: a JSON Schema keyword, not a thenable
    { if: { properties: { channels: { const: 1 } }, required: ['channels'] }, then: perChannel(1) },
    // biome-ignore lint/suspicious/noThenProperty: a JSON Schema keyword, not a thenable
    { if: { properties: { channels: { const: 3 } }, required: ['channels'] }, then: perChannel(3) },
  ],
} as const;

const validateSpec = compileValidator<PreprocessingSpec>(preprocessingSpecSchema);

/**
 * Validate a parsed preprocessing.json (or config object); throws
 * ProjectError INVALID naming every offending field of `what`.
 */
export function parsePreprocessingSpec(value: unknown, what = 'preprocessing spec'): PreprocessingSpec {
  return validateSpec(value, what);
}

/** The default spec: pixels scaled to [0, 1], no mean/std shift. */
export function defaultSpecFor(size: { width: number; height: number; channels: 1 | 3 }): PreprocessingSpec {
  return parsePreprocessingSpec(
    {
      version: 1,
      width: size.width,
      height: size.height,
      channels: size.channels,
      resize: 'bilinear',
      scale: 1 / 255,
      mean: new Array(size.channels).fill(0),
      std: new Array(size.channels).fill(1),
    },
    'defaultSpecFor()',
  );
}

const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;

function checkImage(image: DecodedImage): void {
  const { width, height, channels, data } = image;
  if (![1, 3, 4].includes(channels) || data.length !== width * height * channels || width < 1 || height < 1) {
    throw new ProjectError(
      'INVALID',
      `image data has ${data.length} bytes for ${width}x${height}x${channels}`,
      { hint: 'pass a DecodedImage from decodeImage()' },
    );
  }
}

/**
 * Sample (x, y) of the image converted to `channels` (alpha dropped), as
 * float32: the value the whole-image conversion stored before resizing, so
 * that converting only the pixels the resize reads gives the same bits.
 */
function converter(image: DecodedImage, channels: 1 | 3): (pixel: number, k: number) => number {
  const { channels: c, data } = image;
  if (channels === 1) {
    return c === 1
      ? (p) => data[p]!
      : (p) => Math.fround(luma(data[p * c]!, data[p * c + 1]!, data[p * c + 2]!));
  }
  return c === 1 ? (p) => data[p]! : (p, k) => data[p * c + k]!;
}

/**
 * Bilinear resize with half-pixel centres (TF2 / OpenCV / PIL convention,
 * no antialiasing), reading each output pixel's four source pixels through
 * `at`: the work is proportional to the output size, not to the (up to
 * megapixel) input, and no full-size float copy of the image is made.
 */
function resizeBilinear(
  at: (pixel: number, k: number) => number,
  sw: number,
  sh: number,
  c: number,
  dw: number,
  dh: number,
): Float32Array {
  const out = new Float32Array(dw * dh * c);
  if (sw === dw && sh === dh) {
    for (let p = 0; p < sw * sh; p++) for (let k = 0; k < c; k++) out[p * c + k] = at(p, k);
    return out;
  }
  const sx = sw / dw;
  const sy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = at(y0 * sw + x0, k);
        const b = at(y0 * sw + x1, k);
        const d = at(y1 * sw + x0, k);
        const e = at(y1 * sw + x1, k);
        const top = a + (b - a) * wx;
        const bottom = d + (e - d) * wx;
        out[(y * dw + x) * c + k] = top + (bottom - top) * wy;
      }
    }
  }
  return out;
}

/**
 * One image → the model's input: Float32Array, HWC, length
 * spec.width * spec.height * spec.channels.
 */
export function toModelInput(image: DecodedImage, spec: PreprocessingSpec): Float32Array {
  checkImage(image);
  const { width, height, channels, scale, mean, std } = spec;
  const out = resizeBilinear(converter(image, channels), image.width, image.height, channels, width, height);
  for (let i = 0; i < out.length; i++) {
    const k = i % channels;
    out[i] = (out[i]! * scale - mean[k]!) / std[k]!;
  }
  return out;
}

/** A batch of images → one `[n, height, width, channels]` tensor (the caller disposes it). */
export function preprocessBatch(images: readonly DecodedImage[], spec: PreprocessingSpec): tf.Tensor4D {
  const size = spec.width * spec.height * spec.channels;
  const flat = new Float32Array(images.length * size);
  images.forEach((img, i) => {
    flat.set(toModelInput(img, spec), i * size);
  });
  return tf.tidy(() => tf.tensor4d(flat, [images.length, spec.height, spec.width, spec.channels], 'float32'));
}

/** Summary statistics of one image, the features the drift monitor compares. */
export interface ImageStats {
  /** Mean luminance in [0, 1]. */
  brightness: number;
  /** Standard deviation of luminance, in [0, 0.5]. */
  contrast: number;
  /** Mean of each stored channel, in [0, 1] (alpha excluded). */
  channelMeans: number[];
}

/** Running sums of {@link imageStats}, so that the pass can be split without changing a bit of the result. */
interface StatsSums {
  sum: number;
  sumSq: number;
  r: number;
  g: number;
  b: number;
}

/** Add pixels [from, to) to `acc`, in pixel order (the order fixes the floating-point result). */
function accumulateStats(acc: StatsSums, image: DecodedImage, from: number, to: number): void {
  const { channels: c, data } = image;
  let { sum, sumSq, r, g, b } = acc;
  if (c === 1) {
    for (let i = from; i < to; i++) {
      const y = data[i]!;
      sum += y;
      sumSq += y * y;
      r += y;
    }
  } else {
    for (let p = from * c; p < to * c; p += c) {
      const pr = data[p]!;
      const pg = data[p + 1]!;
      const pb = data[p + 2]!;
      const y = luma(pr, pg, pb);
      sum += y;
      sumSq += y * y;
      r += pr;
      g += pg;
      b += pb;
    }
  }
  Object.assign(acc, { sum, sumSq, r, g, b });
}

function statsOf(acc: StatsSums, image: DecodedImage): ImageStats {
  const n = image.width * image.height;
  const mean = acc.sum / n;
  const variance = Math.max(0, acc.sumSq / n - mean * mean);
  const sums = image.channels === 1 ? [acc.r] : [acc.r, acc.g, acc.b];
  return {
    brightness: mean / 255,
    contrast: Math.sqrt(variance) / 255,
    channelMeans: sums.map((s) => s / n / 255),
  };
}

/** Brightness, contrast and per-channel means of a decoded image, for drift detection. */
export function imageStats(image: DecodedImage): ImageStats {
  checkImage(image);
  const acc: StatsSums = { sum: 0, sumSq: 0, r: 0, g: 0, b: 0 };
  accumulateStats(acc, image, 0, image.width * image.height);
  return statsOf(acc, image);
}

/**
 * {@link imageStats} in slices of `slicePixels`, yielding to the event loop
 * between slices (same sums in the same order, so the same result to the
 * bit): a server computes the features of a multi-megapixel image without
 * holding its event loop for the whole pass.
 */
export async function imageStatsYielding(image: DecodedImage, slicePixels = 256 * 1024): Promise<ImageStats> {
  checkImage(image);
  const acc: StatsSums = { sum: 0, sumSq: 0, r: 0, g: 0, b: 0 };
  const n = image.width * image.height;
  for (let from = 0; from < n; from += slicePixels) {
    if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    accumulateStats(acc, image, from, Math.min(n, from + slicePixels));
  }
  return statsOf(acc, image);
}
