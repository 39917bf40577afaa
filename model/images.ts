/**
 * Image bytes ⇄ pixels, shared by training and serving through
 * `model/preprocessing.ts`. Decoding is sharp (libvips, with libspng and
 * mozjpeg/libjpeg-turbo): it runs on libuv's thread pool, never on the
 * event loop, and is several times faster than the pure-JS decoders it
 * replaced (pngjs, jpeg-js; `npm run bench:serving -- --part decoders`,
 * bench/results/serving-decoders.md), except on tiny PNGs: those of at most
 * 64x64 pixels, 8-bit and without colour chunks, pngjs decodes in place.
 * Encoding test images stays on pngjs (`encodePng`), whose stored-deflate
 * bytes do not depend on the zlib build.
 *
 * The format is told by its magic bytes (PNG: `89 50 4E 47 0D 0A 1A 0A`,
 * JPEG: `FF D8 FF`), never by a file extension, and the header is checked
 * before any pixel is decoded ({@link inspectImage}): the pixel count (PNG
 * IHDR, JPEG SOFn) and, for JPEG, the number of scans (a progressive JPEG
 * with thousands of empty scans makes a decoder walk every block once per
 * scan). An oversized or hostile upload is refused without allocating its
 * pixels; libvips' own `limitInputPixels` is a second guard.
 *
 * @see https://www.w3.org/TR/png-3/#5PNG-file-signature PNG signature and IHDR
 * @see https://www.w3.org/Graphics/JPEG/itu-t81.pdf JPEG markers (Annex B), progressive scans (Annex G)
 * @see https://sharp.pixelplumbing.com/api-constructor sharp's input options (limitInputPixels, failOn)
 */
import { PNG } from 'pngjs';
import sharp, { type OutputInfo } from 'sharp';
import { ProjectError } from '../platform/errors.ts';

// No libvips operation cache: every image is decoded once, and a cache would
// keep decoded pixels (memory) alive after the request that sent them.
sharp.cache(false);

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

/** A header plus what {@link inspectImage} counted: JPEG scans (1 for a baseline JPEG, 0 for PNG). */
export interface InspectedImage extends ImageHeader {
  scans: number;
}

export interface DecodeOptions {
  /** Refuse (TOO_LARGE) an image whose width*height exceeds this. Default 4096*4096. */
  maxPixels?: number;
  /** Refuse (INVALID) a JPEG with more scans than this. Default {@link DEFAULT_MAX_JPEG_SCANS}. */
  maxScans?: number;
  /** Named in error messages (a file path, "request body"). Default "image". */
  source?: string;
}

export const DEFAULT_MAX_PIXELS = 4096 * 4096;
/**
 * A baseline JPEG has 1 scan, libjpeg's standard progressive script 10 (6
 * for grayscale), mozjpeg's optimised scripts a few more; 100 leaves room
 * for any encoder's script and none for a scan bomb.
 */
export const DEFAULT_MAX_JPEG_SCANS = 100;

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

/** Offset of the marker that ends the entropy-coded data starting at `p` (B.1.1.5: FF00 is a stuffed byte, FFD0-D7 restart markers, FFFF fill). */
function endOfEntropyData(bytes: Uint8Array, p: number): number {
  for (;;) {
    const ff = bytes.indexOf(0xff, p);
    if (ff < 0 || ff + 1 >= bytes.length) return bytes.length;
    const next = bytes[ff + 1]!;
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) p = ff + 1;
    else return ff;
  }
}

/**
 * Walk a JPEG's markers: the frame header (size, components) and, when
 * `maxScans` is given, every scan up to EOI, refusing more than `maxScans`.
 */
function jpegInspect(bytes: Uint8Array, source: string, maxScans?: number): InspectedImage {
  let o = 2;
  let header: ImageHeader | undefined;
  let scans = 0;
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
    if (marker === 0xd9) break; // EOI
    const length = u16(bytes, o + 2);
    if (length < 2) {
      throw invalid(source, `corrupt JPEG (segment length ${length} at byte ${o})`, 're-export it');
    }
    if (isSof(marker) && !header) {
      if (o + 2 + 8 > bytes.length) break;
      header = {
        format: 'jpeg',
        height: u16(bytes, o + 5),
        width: u16(bytes, o + 7),
        channels: bytes[o + 9]! === 1 ? 1 : 3,
      };
      if (maxScans === undefined) return { ...header, scans: 0 };
    }
    if (marker === 0xda) {
      if (!header) break; // a scan before any frame header
      scans++;
      if (maxScans !== undefined && scans > maxScans) {
        throw invalid(
          source,
          `JPEG has more than ${maxScans} scans (progressive passes); refused, as decoding it would walk every block once per scan`,
          're-encode it as a baseline JPEG, or with a standard progressive script',
        );
      }
      o = endOfEntropyData(bytes, o + 2 + length);
      continue;
    }
    o += 2 + length;
  }
  if (!header)
    throw invalid(source, 'truncated JPEG (no frame header)', 'the file was cut short; re-export it');
  return { ...header, scans };
}

/**
 * Read format, size and channels from the header only (no pixel decoding).
 * Throws ProjectError INVALID for zero bytes, a non-image, or a header cut short.
 */
export function readImageHeader(bytes: Uint8Array, source = 'image'): ImageHeader {
  const format = formatOf(bytes, source);
  if (format === 'png') return pngHeader(bytes, source);
  const { scans: _, ...header } = jpegInspect(bytes, source);
  return header;
}

function formatOf(bytes: Uint8Array, source: string): ImageFormat {
  if (bytes.length === 0) {
    throw invalid(source, 'empty file (0 bytes)', 'replace it with a PNG or JPEG image, or remove it');
  }
  const format = sniffFormat(bytes);
  if (!format) {
    throw invalid(
      source,
      'not an image (unsupported format: only PNG and JPEG are read, told by their magic bytes)',
      'convert it to PNG or JPEG, or remove it',
    );
  }
  return format;
}

/**
 * Everything that can be told before decoding: format, size, channels and
 * JPEG scan count, checked against the limits. Cheap (no pixel is decoded;
 * a JPEG's markers are walked with a native byte search), so a server can
 * sum the pixels of a request and refuse it before decoding any image.
 *
 * @throws ProjectError INVALID (zero bytes, not an image, truncated header,
 *   no pixels, too many JPEG scans), TOO_LARGE (width*height > maxPixels).
 */
export function inspectImage(bytes: Uint8Array, opts: DecodeOptions = {}): InspectedImage {
  const source = opts.source ?? 'image';
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const format = formatOf(bytes, source);
  const info =
    format === 'png'
      ? { ...pngHeader(bytes, source), scans: 0 }
      : jpegInspect(bytes, source, opts.maxScans ?? DEFAULT_MAX_JPEG_SCANS);
  const { width, height } = info;
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
  return info;
}

/**
 * Decode PNG or JPEG bytes into 8-bit HWC pixels (1 channel for grayscale
 * files, 3 for colour; alpha dropped; 16-bit samples reduced to 8 bits; CMYK
 * and embedded colour profiles converted to sRGB). The header is checked
 * first ({@link inspectImage}); the pixels are decoded by libvips on the
 * thread pool, so the event loop is free meanwhile, except a small plain PNG
 * (at most {@link SMALL_PNG_MAX_PIXELS}), which pngjs decodes faster in place.
 *
 * @throws ProjectError INVALID (zero bytes, not an image, truncated or corrupt
 *   data, too many JPEG scans), TOO_LARGE (width*height > maxPixels).
 */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<DecodedImage> {
  const header = inspectImage(bytes, opts);
  return decodeSmallPng(bytes, header) ?? decodeWithLibvips(bytes, header, opts.source ?? 'image');
}

/** The largest PNG (in pixels) decoded in JS rather than by libvips: {@link decodeSmallPng}. */
export const SMALL_PNG_MAX_PIXELS = 64 * 64;
/** Chunks that could make libvips' pixels differ from the file's samples (colour profile, gamma, chromaticities, rendering intent, significant bits). */
const COLOUR_CHUNKS = new Set(['iCCP', 'gAMA', 'cHRM', 'sRGB', 'sBIT']);

/**
 * A small, plain PNG decoded synchronously with pngjs: for an image of a few
 * thousand pixels, handing it to libvips' thread pool costs more than
 * decoding it (0.4 against 1.0 ms for 16x16, `npm run bench:serving -- --part
 * decoders`), and the event loop is held for a fraction of a millisecond.
 * Plain: 8 bits per sample, gray or RGB with or without alpha (no palette),
 * and no chunk before the pixels that libvips would act on (COLOUR_CHUNKS);
 * then the pixels are the file's samples and equal to what libvips gives
 * (model/preprocessing.test.ts checks it). Anything else, and anything pngjs
 * refuses (libvips then gives the verdict), is undefined: the caller decodes
 * with libvips.
 */
export function decodeSmallPng(bytes: Uint8Array, header: InspectedImage): DecodedImage | undefined {
  const { width, height, channels } = header;
  const colourType = bytes[25]!;
  if (header.format !== 'png' || width * height > SMALL_PNG_MAX_PIXELS || bytes[24] !== 8) return undefined;
  if (colourType !== 0 && colourType !== 2 && colourType !== 4 && colourType !== 6) return undefined;
  // Walk the chunks before the first IDAT: length (4), type (4), data, CRC (4).
  for (let o = 8; ; ) {
    if (o + 8 > bytes.length) return undefined;
    const type = String.fromCharCode(bytes[o + 4]!, bytes[o + 5]!, bytes[o + 6]!, bytes[o + 7]!);
    if (type === 'IDAT') break;
    if (COLOUR_CHUNKS.has(type)) return undefined;
    o += 12 + u32(bytes, o);
  }
  let rgba: Buffer;
  try {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (png.width !== width || png.height !== height) return undefined;
    rgba = png.data;
  } catch {
    return undefined;
  }
  const n = width * height;
  const data = new Uint8Array(n * channels);
  if (channels === 1) for (let i = 0; i < n; i++) data[i] = rgba[i * 4]!;
  else
    for (let i = 0; i < n; i++) {
      data[i * 3] = rgba[i * 4]!;
      data[i * 3 + 1] = rgba[i * 4 + 1]!;
      data[i * 3 + 2] = rgba[i * 4 + 2]!;
    }
  return { width, height, channels, data };
}

/** Decode with libvips (sharp), on its thread pool: every JPEG, and every PNG {@link decodeSmallPng} leaves. */
export async function decodeWithLibvips(
  bytes: Uint8Array,
  header: ImageHeader,
  source = 'image',
): Promise<DecodedImage> {
  const { width, height, channels } = header;
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, {
      limitInputPixels: width * height,
      // Refuse truncated or corrupt data; tolerate mere warnings (e.g. libpng's
      // "known incorrect sRGB profile" on many real files).
      failOn: 'error',
      sequentialRead: true,
      // A multi-frame file decodes its first frame only.
      pages: 1,
    })
      .removeAlpha()
      .toColourspace(channels === 1 ? 'b-w' : 'srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw invalid(
      source,
      `truncated or corrupt ${header.format.toUpperCase()} (${String((e as Error).message).split('\n')[0]})`,
      'the file is damaged or cut short; re-export it',
      e,
    );
  }
  const { info, data } = out;
  if (info.width !== width || info.height !== height || info.channels !== channels) {
    throw invalid(
      source,
      `corrupt ${header.format.toUpperCase()} (the header says ${width}x${height}x${channels}, the pixels are ${info.width}x${info.height}x${info.channels})`,
      're-export it',
    );
  }
  return { width, height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
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
