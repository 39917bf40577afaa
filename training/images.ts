/**
 * Image bytes ⇄ pixels, shared by training and serving through
 * `training/preprocessing.ts`. Pure TypeScript on pngjs and jpeg-js: no native
 * modules, so it runs wherever Node runs.
 *
 * The format is told by its magic bytes (PNG: `89 50 4E 47 0D 0A 1A 0A`,
 * JPEG: `FF D8 FF`), never by a file extension, and the pixel count is read
 * from the header (PNG IHDR, JPEG SOFn) before any pixel is decoded, so an
 * oversized upload is refused without allocating its pixels.
 *
 * @see https://www.w3.org/TR/png-3/#5PNG-file-signature PNG signature and IHDR
 * @see https://www.w3.org/Graphics/JPEG/itu-t81.pdf JPEG markers (Annex B)
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ProjectError } from '../lib/index.ts';

/** Decoded pixels, HWC, 8 bits per sample; alpha is dropped at decode. */
export interface DecodedImage {
  width: number;
  height: number;
  /** 1 = grayscale, 3 = RGB (4 = RGBA is accepted by preprocessing but never produced by decodeImage). */
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

export type ImageFormat = 'png' | 'jpeg';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
  /** Channels the file stores, alpha excluded: 1 or 3. */
  channels: 1 | 3;
}

export interface DecodeOptions {
  /** Refuse (TOO_LARGE) an image whose width*height exceeds this. Default 4096*4096. */
  maxPixels?: number;
  /** Named in error messages (a file path, "request body"). Default "image". */
  source?: string;
}

export const DEFAULT_MAX_PIXELS = 4096 * 4096;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format told by magic bytes, or undefined. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

function invalid(source: string, what: string, hint: string, cause?: unknown): ProjectError {
  return new ProjectError('INVALID', `${source}: ${what}`, { subject: source, hint, cause });
}

const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;

function pngHeader(bytes: Uint8Array, source: string): ImageHeader {
  // Signature (8) + IHDR length (4) + "IHDR" (4) + 13 data bytes.
  if (bytes.length < 8 + 8 + 13 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') {
    throw invalid(source, 'truncated PNG (no complete IHDR header)', 'the file was cut short; re-export it');
  }
  const colorType = bytes[25]!;
  return {
    format: 'png',
    width: u32(bytes, 16),
    height: u32(bytes, 20),
    // Colour types 2 (RGB), 3 (palette), 6 (RGBA) carry colour; 0 and 4 are gray.
    channels: colorType === 0 || colorType === 4 ? 1 : 3,
  };
}

// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
const isSof = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function jpegHeader(bytes: Uint8Array, source: string): ImageHeader {
  let o = 2;
  while (o + 4 <= bytes.length) {
    if (bytes[o] !== 0xff) {
      throw invalid(source, `corrupt JPEG (no marker at byte ${o})`, 'the file is damaged; re-export it');
    }
    const marker = bytes[o + 1]!;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI or start of scan before any frame header
    const length = u16(bytes, o + 2);
    if (isSof(marker)) {
      if (o + 2 + 8 > bytes.length) break;
      const components = bytes[o + 9]!;
      return {
        format: 'jpeg',
        height: u16(bytes, o + 5),
        width: u16(bytes, o + 7),
        channels: components === 1 ? 1 : 3,
      };
    }
    o += 2 + length;
  }
  throw invalid(source, 'truncated JPEG (no frame header)', 'the file was cut short; re-export it');
}

/**
 * Read format, size and channels from the header only (no pixel decoding).
 * Throws ProjectError INVALID for zero bytes, a non-image, or a header cut short.
 */
export function readImageHeader(bytes: Uint8Array, source = 'image'): ImageHeader {
  if (bytes.length === 0) {
    throw invalid(source, 'empty file (0 bytes)', 'replace it with a PNG or JPEG image, or remove it');
  }
  const format = sniffFormat(bytes);
  if (format === 'png') return pngHeader(bytes, source);
  if (format === 'jpeg') return jpegHeader(bytes, source);
  throw invalid(
    source,
    'not an image (unsupported format: only PNG and JPEG are read, told by their magic bytes)',
    'convert it to PNG or JPEG, or remove it',
  );
}

/**
 * Decode PNG or JPEG bytes into 8-bit HWC pixels (1 channel for grayscale
 * files, 3 for colour; alpha dropped). The size limit is checked from the
 * header before decoding.
 *
 * @throws ProjectError INVALID (zero bytes, not an image, truncated or corrupt
 *   data), TOO_LARGE (width*height > maxPixels).
 */
export function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): DecodedImage {
  const source = opts.source ?? 'image';
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const header = readImageHeader(bytes, source);
  const { width, height, channels } = header;
  if (width === 0 || height === 0) {
    throw invalid(source, `image has no pixels (${width}x${height})`, 'replace it with a real image');
  }
  if (width * height > maxPixels) {
    throw new ProjectError(
      'TOO_LARGE',
      `${source}: image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`,
      { subject: source, hint: 'downscale it before sending', details: { width, height, maxPixels } },
    );
  }
  let rgba: Uint8Array;
  let srcChannels: 3 | 4;
  try {
    if (header.format === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      rgba = png.data;
      srcChannels = 4;
    } else {
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        tolerantDecoding: false,
        maxResolutionInMP: Math.max(1, Math.ceil(maxPixels / 1e6)),
      });
      rgba = img.data;
      srcChannels = 3;
    }
  } catch (e) {
    if (e instanceof ProjectError) throw e;
    throw invalid(
      source,
      `truncated or corrupt ${header.format.toUpperCase()} (${(e as Error).message})`,
      'the file is damaged or cut short; re-export it',
      e,
    );
  }
  const n = width * height;
  if (rgba.length < n * srcChannels) {
    throw invalid(source, `truncated ${header.format.toUpperCase()} (too few pixels)`, 're-export it');
  }
  const data = new Uint8Array(n * channels);
  if (channels === 1) {
    for (let i = 0; i < n; i++) data[i] = rgba[i * srcChannels]!;
  } else {
    for (let i = 0; i < n; i++) {
      data[i * 3] = rgba[i * srcChannels]!;
      data[i * 3 + 1] = rgba[i * srcChannels + 1]!;
      data[i * 3 + 2] = rgba[i * srcChannels + 2]!;
    }
  }
  return { width, height, channels, data };
}

/**
 * Encode pixels as PNG (grayscale colour type 0 for 1 channel, RGB type 2 for
 * 3, RGBA type 6 for 4). `deflateLevel: 0` stores the pixels uncompressed,
 * which makes the bytes independent of the zlib build.
 */
export function encodePng(
  image: DecodedImage,
  opts: { deflateLevel?: number; filterType?: number } = {},
): Uint8Array {
  const { width, height, channels, data } = image;
  if (data.length !== width * height * channels) {
    throw new ProjectError(
      'INVALID',
      `encodePng: data has ${data.length} bytes, expected ${width}x${height}x${channels}`,
    );
  }
  const colorType = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  // pngjs reads only width, height and data from its first argument when packing.
  const input = { width, height, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  return PNG.sync.write(input as unknown as PNG, {
    colorType,
    inputColorType: colorType,
    inputHasAlpha: channels === 4,
    ...(opts.deflateLevel !== undefined ? { deflateLevel: opts.deflateLevel } : {}),
    ...(opts.filterType !== undefined ? { filterType: opts.filterType } : {}),
  });
}
