import { describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { ProjectError } from '../platform/index.ts';
import { decodeSmallPng, decodeWithLibvips } from './images.ts';
import {
  DEFAULT_MAX_JPEG_SCANS,
  type DecodedImage,
  decodeImage,
  defaultSpecFor,
  encodePng,
  imageStats,
  imageStatsYielding,
  inspectImage,
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

async function rejection(p: Promise<unknown>): Promise<ProjectError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProjectError);
    return e as ProjectError;
  }
  throw new Error('expected a ProjectError');
}

/** Deterministic noise, so the decoders are compared on every pixel value. */
function noise(width: number, height: number, channels: 1 | 3 | 4, seed = 7): DecodedImage {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    data[i] = s >> 23;
  }
  return { width, height, channels, data };
}

/** A progressive JPEG followed by `extra` copies of its last scan header (no data): a scan bomb. */
function withExtraScans(progressive: Uint8Array, extra: number): Uint8Array {
  const sos: number[] = [];
  for (let i = 0; i + 1 < progressive.length; i++)
    if (progressive[i] === 0xff && progressive[i + 1] === 0xda) sos.push(i);
  const last = sos.at(-1)!;
  const header = progressive.subarray(
    last,
    last + 2 + ((progressive[last + 2]! << 8) | progressive[last + 3]!),
  );
  const eoi = progressive.length - 2;
  const parts = [
    progressive.subarray(0, eoi),
    ...new Array(extra).fill(header),
    new Uint8Array([0xff, 0xd9]),
  ];
  return new Uint8Array(Buffer.concat(parts));
}

describe('decodeImage', () => {
  it('decodes a grayscale PNG to 1 channel with the same pixels', async () => {
    const img = gray(5, 3, (x, y) => x * 40 + y);
    const out = await decodeImage(encodePng(img));
    expect(out).toEqual({ width: 5, height: 3, channels: 1, data: img.data });
  });

  it('decodes an RGBA PNG to 3 channels, dropping alpha', async () => {
    const out = await decodeImage(rgbaPng(2, 2, [10, 20, 30, 7]));
    expect(out.channels).toBe(3);
    expect([...out.data]).toEqual([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]);
  });

  // sharp replaced pngjs: PNG is lossless, so every pixel must be the one pngjs gave.
  it.each([1, 3, 4] as const)('gives exactly the pixels pngjs gives for a %i-channel PNG', async (c) => {
    const img = noise(37, 23, c);
    const bytes = encodePng(img, { deflateLevel: 9 });
    const out = await decodeImage(bytes);
    const ref = PNG.sync.read(Buffer.from(bytes));
    const keep = c === 1 ? 1 : 3;
    const expected = new Uint8Array(37 * 23 * keep);
    for (let i = 0; i < 37 * 23; i++)
      for (let k = 0; k < keep; k++) expected[i * keep + k] = ref.data[i * 4 + k]!;
    expect(out.channels).toBe(keep);
    expect(Buffer.from(out.data).equals(Buffer.from(expected))).toBe(true);
  });

  // Small plain PNGs are decoded by pngjs in place (decodeSmallPng): the pixels libvips gives, exactly.
  it.each([
    ['gray', 1, false],
    ['gray + alpha', 2, false],
    ['RGB', 3, false],
    ['RGBA', 4, false],
    ['RGB, interlaced', 3, true],
    ['RGBA, interlaced', 4, true],
  ] as const)('decodes a small %s PNG as libvips does', async (_, c, progressive) => {
    for (const size of [1, 7, 32, 64]) {
      const img = noise(size, size, c === 2 ? 1 : c);
      const raw =
        c === 2
          ? Buffer.from(
              Uint8Array.from({ length: size * size * 2 }, (_v, i) =>
                i % 2 ? 255 - (i % 7) : img.data[i >> 1]!,
              ),
            )
          : Buffer.from(img.data);
      const encoder = sharp(raw, { raw: { width: size, height: size, channels: c } });
      if (c <= 2) encoder.toColourspace('b-w');
      const bytes = new Uint8Array(await encoder.png({ progressive, compressionLevel: 9 }).toBuffer());
      // IHDR: 8 bits, colour type 0 (gray), 4 (gray + alpha), 2 (RGB) or 6 (RGBA), the interlace asked for.
      expect([bytes[24], bytes[25], bytes[28]]).toEqual([8, [0, 4, 2, 6][c - 1], progressive ? 1 : 0]);
      const header = inspectImage(bytes);
      const fast = decodeSmallPng(bytes, header);
      expect(fast).toEqual(await decodeWithLibvips(bytes, header));
      expect(fast?.channels).toBe(c <= 2 ? 1 : 3);
      expect(await decodeImage(bytes)).toEqual(fast);
    }
  });

  it('leaves to libvips a PNG over 64x64 pixels, of 16 bits, or with a colour chunk, and one pngjs refuses', async () => {
    // Each decodes as libvips does; a refused one gets libvips' verdict (the message of a truncated PNG below).
    const big = encodePng(noise(65, 64, 3));
    expect(decodeSmallPng(big, inspectImage(big))).toBeUndefined();
    expect(await decodeImage(big)).toEqual(await decodeWithLibvips(big, inspectImage(big)));
    // A gAMA chunk (gamma 1/2.2) before the pixels: libvips might act on it, so it decodes the file.
    const plain = encodePng(noise(8, 8, 3));
    const gama = Buffer.concat([
      Buffer.from([0, 0, 0, 4]),
      Buffer.from('gAMA'),
      Buffer.from([0, 0, 0xb1, 0x8f]),
    ]);
    const withGamma = new Uint8Array(
      Buffer.concat([plain.subarray(0, 33), gama, Buffer.from([0, 0, 0, 0]), plain.subarray(33)]),
    );
    expect(decodeSmallPng(plain, inspectImage(plain))).toBeDefined();
    expect(decodeSmallPng(withGamma, inspectImage(withGamma))).toBeUndefined();
    const deep = new Uint8Array(
      await sharp(Buffer.from(noise(8, 8, 3).data), { raw: { width: 8, height: 8, channels: 3 } })
        .toColourspace('rgb16')
        .png()
        .toBuffer(),
    );
    expect(deep[24]).toBe(16);
    expect(decodeSmallPng(deep, inspectImage(deep))).toBeUndefined();
    expect(await decodeImage(deep)).toEqual(await decodeWithLibvips(deep, inspectImage(deep)));
    const small = encodePng(noise(8, 8, 3));
    const bad = new Uint8Array(small);
    bad[bad.length - 20] = bad[bad.length - 20]! ^ 0xff; // the last IDAT's CRC or data
    expect(decodeSmallPng(bad, inspectImage(bad))).toBeUndefined();
    const e = await rejection(decodeImage(bad, { source: 'c.png' }));
    const e2 = await rejection(decodeWithLibvips(bad, inspectImage(bad), 'c.png'));
    expect(e.message).toBe(e2.message);
  });

  // sharp replaced jpeg-js: JPEG decoders may differ in IDCT rounding and chroma upsampling.
  it('decodes a JPEG within 4 levels (mean under 1) of jpeg-js', async () => {
    const w = 64;
    const raw = Buffer.alloc(w * w * 4);
    for (let y = 0; y < w; y++)
      for (let x = 0; x < w; x++) raw.set([x * 4, y * 4, (x + y) * 2, 255], (y * w + x) * 4);
    const bytes = jpeg.encode({ width: w, height: w, data: raw }, 90).data;
    const out = await decodeImage(bytes);
    const ref = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
    let max = 0;
    let sum = 0;
    for (let i = 0; i < out.data.length; i++) {
      const d = Math.abs(out.data[i]! - ref.data[i]!);
      max = Math.max(max, d);
      sum += d;
    }
    expect(max).toBeLessThanOrEqual(4);
    expect(sum / out.data.length).toBeLessThan(1);
  });

  it('decodes a JPEG (told by magic bytes, not by name) to RGB', async () => {
    const raw = Buffer.alloc(8 * 8 * 4);
    for (let i = 0; i < 64; i++) raw.set([200, 100, 50, 255], i * 4);
    const bytes = jpeg.encode({ width: 8, height: 8, data: raw }, 95).data;
    const out = await decodeImage(bytes);
    expect(out.width).toBe(8);
    expect(out.height).toBe(8);
    expect(out.channels).toBe(3);
    expect(Math.abs(out.data[0]! - 200)).toBeLessThan(6);
    expect(Math.abs(out.data[1]! - 100)).toBeLessThan(6);
    expect(Math.abs(out.data[2]! - 50)).toBeLessThan(6);
  });

  it('refuses zero bytes, naming the source', async () => {
    const e = await rejection(decodeImage(new Uint8Array(0), { source: '/data/cats/a.png' }));
    expect(e.code).toBe('INVALID');
    expect(e.subject).toBe('/data/cats/a.png');
    expect(e.message).toContain('/data/cats/a.png: empty file (0 bytes)');
  });

  it('refuses bytes that are not PNG or JPEG (e.g. a text file named .png)', async () => {
    const e = await rejection(decodeImage(new TextEncoder().encode('just some notes'), { source: 'x.png' }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('x.png: not an image');
    expect(e.hint).toContain('convert it to PNG or JPEG');
  });

  it('refuses a truncated PNG and a truncated JPEG', async () => {
    const bytes = encodePng(gray(16, 16, (x) => x * 10));
    const e = await rejection(decodeImage(bytes.subarray(0, bytes.length - 30), { source: 't.png' }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toMatch(/^t\.png: truncated or corrupt PNG/);
    const e2 = await rejection(decodeImage(bytes.subarray(0, 20), { source: 't.png' }));
    expect(e2.message).toContain('truncated PNG (no complete IHDR header)');
    const j = jpeg.encode({ width: 32, height: 32, data: Buffer.from(noise(32, 32, 4).data) }, 90).data;
    const e3 = await rejection(decodeImage(j.subarray(0, Math.floor(j.length / 2)), { source: 't.jpg' }));
    expect(e3.message).toMatch(/^t\.jpg: truncated or corrupt JPEG/);
  });

  it('refuses an image over maxPixels from its header, before decoding pixels', async () => {
    // Only signature + IHDR of a 100000 x 100000 PNG: no pixel data at all, so a
    // TOO_LARGE (rather than "truncated") proves the header was checked first.
    const bytes = encodePng(gray(4, 4, () => 0)).subarray(0, 33);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    view.setUint32(16, 100000);
    view.setUint32(20, 100000);
    const e = await rejection(decodeImage(bytes, { maxPixels: 1000, source: 'big.png' }));
    expect(e.code).toBe('TOO_LARGE');
    expect(e.message).toContain('big.png: image is 100000x100000');
    expect(readImageHeader(bytes)).toEqual({ format: 'png', width: 100000, height: 100000, channels: 1 });
    const small = encodePng(gray(40, 40, () => 0));
    expect((await rejection(decodeImage(small, { maxPixels: 1599 }))).code).toBe('TOO_LARGE');
    expect((await decodeImage(small, { maxPixels: 1600 })).width).toBe(40);
  });

  it('reads the JPEG size from its frame header', async () => {
    const bytes = jpeg.encode({ width: 24, height: 10, data: Buffer.alloc(24 * 10 * 4, 128) }, 80).data;
    expect(readImageHeader(bytes)).toEqual({ format: 'jpeg', width: 24, height: 10, channels: 3 });
    expect(inspectImage(bytes)).toEqual({ format: 'jpeg', width: 24, height: 10, channels: 3, scans: 1 });
    expect((await rejection(decodeImage(bytes, { maxPixels: 100 }))).code).toBe('TOO_LARGE');
  });

  it('counts the scans of a progressive JPEG and refuses a scan bomb before decoding', async () => {
    const progressive = new Uint8Array(
      await sharp(Buffer.from(noise(64, 64, 3).data), { raw: { width: 64, height: 64, channels: 3 } })
        .jpeg({ progressive: true, quality: 80 })
        .toBuffer(),
    );
    const { scans } = inspectImage(progressive);
    expect(scans).toBeGreaterThan(1);
    expect(scans).toBeLessThanOrEqual(DEFAULT_MAX_JPEG_SCANS);
    expect((await decodeImage(progressive)).width).toBe(64);
    const bomb = withExtraScans(progressive, 5000);
    const e = await rejection(decodeImage(bomb, { source: 'bomb.jpg' }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain(`bomb.jpg: JPEG has more than ${DEFAULT_MAX_JPEG_SCANS} scans`);
    expect(() => inspectImage(progressive, { maxScans: scans - 1 })).toThrow(/more than/);
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

  it.each([1, 3, 4] as const)('imageStatsYielding gives the same bits in slices (%i channels)', async (c) => {
    const img = noise(97, 61, c, 11);
    expect(await imageStatsYielding(img, 1000)).toEqual(imageStats(img));
    expect(await imageStatsYielding(img, 1)).toEqual(imageStats(img));
  });
});
