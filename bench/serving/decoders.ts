/**
 * sharp (libvips, the decoder of model/images.ts) against the pure-JS
 * decoders it replaced (pngjs, jpeg-js), side by side in one run: decode
 * throughput with 4 decodes in flight (as concurrent requests would have),
 * and how long the event loop was held meanwhile (the gaps of a 1 ms
 * interval timer: p99 and max). Plus the JPEG scan
 * bomb of issue 11: jpeg-js decoding it, against the header check that
 * refuses it.
 *
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { decodeImage, inspectImage } from '../../model/preprocessing.ts';

export interface DecoderRow {
  image: string;
  decoder: 'sharp' | 'pure JS';
  decodes: number;
  imagesPerSecond: number;
  megapixelsPerSecond: number;
  /** Event-loop delay while decoding, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
}

export interface ScanBombRow {
  scans: number;
  bytes: number;
  jpegJsMs: number;
  jpegJsOutcome: string;
  refusedMs: number;
}

/** The previous decoder (pngjs / jpeg-js), pixels only: what decodeImage did before sharp. */
function pureJsDecode(bytes: Uint8Array): { width: number; height: number } {
  if (bytes[0] === 0x89) {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height };
  }
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 100 });
  return { width: img.width, height: img.height };
}

/** A photo-like RGB test image: smooth gradients plus fine texture, so it compresses like a photo. */
function photo(width: number, height: number): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const t = ((x * 13) ^ (y * 7)) & 15;
      raw[o] = ((x * 255) / width + t) & 255;
      raw[o + 1] = ((y * 255) / height + t) & 255;
      raw[o + 2] = (((x + y) * 127) / width + t) & 255;
    }
  }
  return raw;
}

async function images(): Promise<{ name: string; bytes: Uint8Array; pixels: number }[]> {
  const small = photo(16, 16);
  const mid = photo(512, 512);
  const big = photo(2048, 2048);
  const raw = (b: Buffer, w: number) => sharp(b, { raw: { width: w, height: w, channels: 3 } });
  return [
    { name: '16x16 PNG', bytes: await raw(small, 16).png().toBuffer(), pixels: 256 },
    { name: '512x512 PNG', bytes: await raw(mid, 512).png().toBuffer(), pixels: 512 * 512 },
    { name: '2048x2048 PNG', bytes: await raw(big, 2048).png().toBuffer(), pixels: 2048 * 2048 },
    {
      name: '2048x2048 JPEG (baseline, q90)',
      bytes: await raw(big, 2048).jpeg({ quality: 90 }).toBuffer(),
      pixels: 2048 * 2048,
    },
    {
      name: '2048x2048 JPEG (progressive, q90)',
      bytes: await raw(big, 2048).jpeg({ quality: 90, progressive: true }).toBuffer(),
      pixels: 2048 * 2048,
    },
  ].map((i) => ({ ...i, bytes: new Uint8Array(i.bytes) }));
}

/**
 * Decode `bytes` for about `seconds` with `inFlight` decodes at a time, and
 * the event loop's stalls meanwhile: a 1 ms interval timer records the gap
 * since its last tick, so a synchronous decode of 800 ms shows as one gap of
 * about 800 ms (a histogram sampled by a timer would miss it when the whole
 * run is a few such blocks).
 */
async function measure(
  decode: (b: Uint8Array) => Promise<unknown>,
  bytes: Uint8Array,
  seconds: number,
  inFlight = 4,
): Promise<{ decodes: number; elapsed: number; p99: number; max: number }> {
  for (let i = 0; i < 2; i++) await decode(bytes); // warm-up (JIT, libvips init)
  const gaps: number[] = [];
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 1);
  const start = performance.now();
  const until = start + seconds * 1000;
  let decodes = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until || decodes < inFlight) {
        await decode(bytes);
        decodes++;
        // Yield between decodes, as separate requests would.
        await new Promise<void>((r) => setImmediate(r));
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 5)); // the tick that ends the last stall
  clearInterval(tick);
  gaps.sort((a, b) => a - b);
  const p99 = gaps[Math.min(gaps.length - 1, Math.ceil(gaps.length * 0.99) - 1)] ?? 0;
  return { decodes, elapsed, p99, max: gaps.at(-1) ?? 0 };
}

/** Throughput and event-loop blocking of both decoders on each test image. */
export async function compareDecoders(seconds = 3): Promise<DecoderRow[]> {
  const rows: DecoderRow[] = [];
  for (const img of await images()) {
    for (const [decoder, decode] of [
      ['sharp', (b: Uint8Array) => decodeImage(b, { maxPixels: 4096 * 4096 })],
      ['pure JS', async (b: Uint8Array) => pureJsDecode(b)],
    ] as const) {
      const m = await measure(decode, img.bytes, seconds);
      const row: DecoderRow = {
        image: img.name,
        decoder,
        decodes: m.decodes,
        imagesPerSecond: Number((m.decodes / m.elapsed).toFixed(1)),
        megapixelsPerSecond: Number(((m.decodes * img.pixels) / 1e6 / m.elapsed).toFixed(1)),
        loopP99Ms: Number(m.p99.toFixed(1)),
        loopMaxMs: Number(m.max.toFixed(1)),
      };
      rows.push(row);
      console.log(
        `  ${img.name.padEnd(34)} ${decoder.padEnd(7)} ${String(row.imagesPerSecond).padStart(8)} img/s ${String(row.megapixelsPerSecond).padStart(7)} MP/s  loop p99 ${row.loopP99Ms} ms, max ${row.loopMaxMs} ms`,
      );
    }
  }
  return rows;
}

/** Issue 11's scan bomb: a progressive JPEG with `scans` empty scans appended. */
export async function scanBomb(scans = 5000): Promise<ScanBombRow> {
  const jpg = await sharp(photo(1024, 1024), { raw: { width: 1024, height: 1024, channels: 3 } })
    .jpeg({ progressive: true, quality: 50 })
    .toBuffer();
  const last = jpg.lastIndexOf(Buffer.from([0xff, 0xda]));
  const header = jpg.subarray(last, last + 2 + jpg.readUInt16BE(last + 2));
  const bomb = new Uint8Array(
    Buffer.concat([
      jpg.subarray(0, jpg.length - 2),
      ...new Array(scans).fill(header),
      Buffer.from([0xff, 0xd9]),
    ]),
  );
  let t = performance.now();
  let outcome = 'decoded';
  try {
    jpeg.decode(bomb, { useTArray: true, tolerantDecoding: true, maxResolutionInMP: 100 });
  } catch (e) {
    outcome = `threw: ${(e as Error).message}`;
  }
  const jpegJsMs = performance.now() - t;
  t = performance.now();
  try {
    inspectImage(bomb);
  } catch {
    // refused, as intended
  }
  return {
    scans,
    bytes: bomb.length,
    jpegJsMs: Number(jpegJsMs.toFixed(1)),
    jpegJsOutcome: outcome,
    refusedMs: Number((performance.now() - t).toFixed(2)),
  };
}

/** Markdown: the table, the sharp / pure-JS ratios per image, and the scan bomb. */
export function decodersMarkdown(rows: DecoderRow[], bomb: ScanBombRow): string {
  const lines = [
    '## Decoders: sharp (libvips) against pure JS (pngjs, jpeg-js)',
    '',
    'Each image decoded for about 3 s with 4 decodes in flight; event-loop stalls meanwhile are the gaps between ticks of a 1 ms interval timer (p99 and max of the gaps). sharp is `decodeImage` of model/images.ts (header check included); pure JS is the decoder it replaced, pixels only.',
    '',
    '| image | decoder | decodes | images/s | MP/s | event-loop gap p99 ms | event-loop gap max ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.image} | ${r.decoder} | ${r.decodes} | ${r.imagesPerSecond} | ${r.megapixelsPerSecond} | ${r.loopP99Ms} | ${r.loopMaxMs} |`,
    ),
    '',
    '| image | throughput sharp / pure JS | event-loop max pure JS / sharp |',
    '| --- | ---: | ---: |',
  ];
  for (const image of [...new Set(rows.map((r) => r.image))]) {
    const s = rows.find((r) => r.image === image && r.decoder === 'sharp');
    const j = rows.find((r) => r.image === image && r.decoder === 'pure JS');
    if (!s || !j) continue;
    lines.push(
      `| ${image} | ${(s.imagesPerSecond / j.imagesPerSecond).toFixed(2)}x | ${(j.loopMaxMs / Math.max(s.loopMaxMs, 0.1)).toFixed(1)}x |`,
    );
  }
  lines.push(
    '',
    `Scan bomb: a 1024x1024 progressive JPEG with ${bomb.scans} empty scans appended (${bomb.bytes} bytes): jpeg-js spends ${bomb.jpegJsMs} ms on the event loop (${bomb.jpegJsOutcome}); the header check refuses it in ${bomb.refusedMs} ms without decoding.`,
  );
  return `${lines.join('\n')}\n`;
}
