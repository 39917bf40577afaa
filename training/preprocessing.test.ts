import { describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ProjectError } from '../lib/index.ts';
import {
  type DecodedImage,
  decodeImage,
  defaultSpecFor,
  encodePng,
  imageStats,
  type PreprocessingSpec,
  parsePreprocessingSpec,
  preprocessBatch,
  readImageHeader,
  toModelInput,
} from './preprocessing.ts';

const gray = (width: number, height: number, f: (x: number, y: number) => number): DecodedImage => {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { width, height, channels: 1, data };
};

const rgb = (width: number, height: number, px: [number, number, number]): DecodedImage => {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(px, i * 3);
  return { width, height, channels: 3, data };
};

function rgbaPng(width: number, height: number, px: [number, number, number, number]): Uint8Array {
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) png.data.set(px, i * 4);
  return PNG.sync.write(png);
}

function catchError(f: () => unknown): ProjectError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProjectError);
    return e as ProjectError;
  }
  throw new Error('expected a ProjectError');
}

describe('decodeImage', () => {
  it('decodes a grayscale PNG to 1 channel with the same pixels', () => {
    const img = gray(5, 3, (x, y) => x * 40 + y);
    const out = decodeImage(encodePng(img));
    expect(out).toEqual({ width: 5, height: 3, channels: 1, data: img.data });
  });

  it('decodes an RGBA PNG to 3 channels, dropping alpha', () => {
    const out = decodeImage(rgbaPng(2, 2, [10, 20, 30, 7]));
    expect(out.channels).toBe(3);
    expect([...out.data]).toEqual([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]);
  });

  it('decodes a JPEG (told by magic bytes, not by name) to RGB', () => {
    const raw = Buffer.alloc(8 * 8 * 4);
    for (let i = 0; i < 64; i++) raw.set([200, 100, 50, 255], i * 4);
    const bytes = jpeg.encode({ width: 8, height: 8, data: raw }, 95).data;
    const out = decodeImage(bytes);
    expect(out.width).toBe(8);
    expect(out.height).toBe(8);
    expect(out.channels).toBe(3);
    expect(Math.abs(out.data[0]! - 200)).toBeLessThan(6);
    expect(Math.abs(out.data[1]! - 100)).toBeLessThan(6);
    expect(Math.abs(out.data[2]! - 50)).toBeLessThan(6);
  });

  it('refuses zero bytes, naming the source', () => {
    const e = catchError(() => decodeImage(new Uint8Array(0), { source: '/data/cats/a.png' }));
    expect(e.code).toBe('INVALID');
    expect(e.subject).toBe('/data/cats/a.png');
    expect(e.message).toContain('/data/cats/a.png: empty file (0 bytes)');
  });

  it('refuses bytes that are not PNG or JPEG (e.g. a text file named .png)', () => {
    const e = catchError(() => decodeImage(new TextEncoder().encode('just some notes'), { source: 'x.png' }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('x.png: not an image');
    expect(e.hint).toContain('convert it to PNG or JPEG');
  });

  it('refuses a truncated PNG', () => {
    const bytes = encodePng(gray(16, 16, (x) => x * 10));
    const e = catchError(() => decodeImage(bytes.subarray(0, bytes.length - 30), { source: 't.png' }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toMatch(/^t\.png: truncated or corrupt PNG/);
    const e2 = catchError(() => decodeImage(bytes.subarray(0, 20), { source: 't.png' }));
    expect(e2.message).toContain('truncated PNG (no complete IHDR header)');
  });

  it('refuses an image over maxPixels from its header, before decoding pixels', () => {
    // Only signature + IHDR of a 100000 x 100000 PNG: no pixel data at all, so a
    // TOO_LARGE (rather than "truncated") proves the header was checked first.
    const bytes = encodePng(gray(4, 4, () => 0)).subarray(0, 33);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    view.setUint32(16, 100000);
    view.setUint32(20, 100000);
    const e = catchError(() => decodeImage(bytes, { maxPixels: 1000, source: 'big.png' }));
    expect(e.code).toBe('TOO_LARGE');
    expect(e.message).toContain('big.png: image is 100000x100000');
    expect(readImageHeader(bytes)).toEqual({ format: 'png', width: 100000, height: 100000, channels: 1 });
    const small = encodePng(gray(40, 40, () => 0));
    expect(catchError(() => decodeImage(small, { maxPixels: 1599 })).code).toBe('TOO_LARGE');
    expect(decodeImage(small, { maxPixels: 1600 }).width).toBe(40);
  });

  it('reads the JPEG size from its frame header', () => {
    const bytes = jpeg.encode({ width: 24, height: 10, data: Buffer.alloc(24 * 10 * 4, 128) }, 80).data;
    expect(readImageHeader(bytes)).toEqual({ format: 'jpeg', width: 24, height: 10, channels: 3 });
    expect(catchError(() => decodeImage(bytes, { maxPixels: 100 })).code).toBe('TOO_LARGE');
  });
});

describe('preprocessing spec', () => {
  it('defaultSpecFor scales to [0, 1] with one mean/std per channel', () => {
    expect(defaultSpecFor({ width: 16, height: 16, channels: 1 })).toEqual({
      version: 1,
      width: 16,
      height: 16,
      channels: 1,
      resize: 'bilinear',
      scale: 1 / 255,
      mean: [0],
      std: [1],
    });
    expect(defaultSpecFor({ width: 32, height: 32, channels: 3 }).mean).toEqual([0, 0, 0]);
  });

  it('names every offending field of a bad spec', () => {
    const bad = {
      version: 2,
      width: 0,
      height: 16,
      channels: 3,
      resize: 'nearest',
      scale: 1,
      mean: [0],
      std: [1, 0, 1],
      x: 1,
    };
    const e = catchError(() => parsePreprocessingSpec(bad, 'model/preprocessing.json'));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('model/preprocessing.json is invalid');
    for (const field of ['/version', '/width', '/resize', '/mean', '/std/1', 'unknown field "x"']) {
      expect(e.message).toContain(field);
    }
  });
});

describe('toModelInput', () => {
  const spec1 = (w: number, h: number, over: Partial<PreprocessingSpec> = {}): PreprocessingSpec => ({
    ...defaultSpecFor({ width: w, height: h, channels: 1 }),
    ...over,
  });

  it('normalises (x * scale - mean) / std per channel, HWC', () => {
    const spec: PreprocessingSpec = {
      ...defaultSpecFor({ width: 1, height: 1, channels: 3 }),
      mean: [0.5, 0, 1],
      std: [0.5, 2, 1],
    };
    const out = toModelInput(rgb(1, 1, [255, 51, 0]), spec);
    expect([...out].map((v) => Number(v.toFixed(5)))).toEqual([1, 0.1, -1]);
  });

  it('converts RGB to grayscale with BT.601 luma and grayscale to RGB by replication', () => {
    const g = toModelInput(rgb(1, 1, [100, 200, 50]), spec1(1, 1, { scale: 1 }));
    expect(g[0]).toBeCloseTo(0.299 * 100 + 0.587 * 200 + 0.114 * 50, 4);
    const c = toModelInput(
      gray(1, 1, () => 77),
      { ...defaultSpecFor({ width: 1, height: 1, channels: 3 }), scale: 1 },
    );
    expect([...c]).toEqual([77, 77, 77]);
  });

  it('drops alpha from RGBA input', () => {
    const rgba: DecodedImage = { width: 1, height: 1, channels: 4, data: new Uint8Array([10, 20, 30, 0]) };
    const out = toModelInput(rgba, { ...defaultSpecFor({ width: 1, height: 1, channels: 3 }), scale: 1 });
    expect([...out]).toEqual([10, 20, 30]);
  });

  it('resizes bilinearly with half-pixel centres', () => {
    // 2x1 [0, 100] → 4x1: centres at -0.25, 0.25, 0.75, 1.25 in source pixels (clamped).
    const out = toModelInput(
      gray(2, 1, (x) => x * 100),
      spec1(4, 1, { scale: 1 }),
    );
    expect([...out]).toEqual([0, 25, 75, 100]);
    // Downscale 4x4 → 2x2 of a constant stays constant.
    expect(
      [
        ...toModelInput(
          gray(4, 4, () => 51),
          spec1(2, 2),
        ),
      ].map((v) => v.toFixed(3)),
    ).toEqual(Array(4).fill('0.200'));
  });

  it('brings images of mixed sizes to the spec size', () => {
    const spec = defaultSpecFor({ width: 16, height: 16, channels: 1 });
    for (const img of [gray(16, 16, () => 1), gray(40, 7, () => 2), rgb(3, 90, [1, 2, 3])]) {
      expect(toModelInput(img, spec).length).toBe(16 * 16);
    }
  });

  it('does not change the input image', () => {
    const img = gray(3, 3, (x, y) => x + y * 3);
    const copy = new Uint8Array(img.data);
    toModelInput(img, spec1(3, 3, { mean: [0.5] }));
    expect(img.data).toEqual(copy);
  });
});

describe('preprocessBatch', () => {
  it('stacks toModelInput results into [n, h, w, c] and leaks no tensors', () => {
    const spec = defaultSpecFor({ width: 4, height: 3, channels: 3 });
    const images = [rgb(4, 3, [255, 0, 0]), gray(8, 6, (x) => x * 30)];
    const before = tf.memory().numTensors;
    const batch = preprocessBatch(images, spec);
    expect(batch.shape).toEqual([2, 3, 4, 3]);
    const data = batch.dataSync();
    expect([...data.subarray(0, 36)]).toEqual([...toModelInput(images[0]!, spec)]);
    expect([...data.subarray(36)]).toEqual([...toModelInput(images[1]!, spec)]);
    batch.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('imageStats', () => {
  it('gives brightness (mean luma), contrast (luma std) and channel means in [0, 1]', () => {
    const half = gray(2, 1, (x) => (x === 0 ? 0 : 255));
    expect(imageStats(half)).toEqual({ brightness: 0.5, contrast: 0.5, channelMeans: [0.5] });
    const red = imageStats(rgb(2, 2, [255, 0, 0]));
    expect(red.brightness).toBeCloseTo(0.299, 6);
    expect(red.contrast).toBeCloseTo(0, 6);
    expect(red.channelMeans).toEqual([1, 0, 0]);
  });
});
