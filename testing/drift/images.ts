/**
 * Test-only: a seeded generator of small grayscale shape images whose
 * distribution can be shifted (brighter, noisier, another class mix), to
 * check that drift stays low in distribution and crosses the thresholds
 * when shifted. Images are plain DecodedImage objects (model/images.ts).
 */
import { mulberry32 } from '../../training/data/rng.ts';

export const SHAPES = ['circle', 'cross', 'square', 'triangle'] as const;
export type Shape = (typeof SHAPES)[number];

export interface ImageDistribution {
  /** Relative weight of each shape (default equal). */
  mix?: Partial<Record<Shape, number>>;
  /** Background grey level range (default [0, 60]). */
  background?: [number, number];
  /** Foreground grey level range (default [140, 255]). */
  foreground?: [number, number];
  /** Uniform pixel noise amplitude, ± this (default 8). */
  noise?: number;
  /** Added to every pixel after drawing, clamped (default 0). */
  brightnessShift?: number;
  /** Side length (default 24). */
  size?: number;
}

export interface GeneratedImage {
  shape: Shape;
  image: { width: number; height: number; channels: 1; data: Uint8Array };
}

function inside(shape: Shape, dx: number, dy: number, r: number): boolean {
  if (shape === 'circle') return dx * dx + dy * dy <= r * r;
  if (shape === 'square') return Math.abs(dx) <= r && Math.abs(dy) <= r;
  if (shape === 'cross') {
    return (Math.abs(dx) <= r / 4 || Math.abs(dy) <= r / 4) && Math.abs(dx) <= r && Math.abs(dy) <= r;
  }
  return dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2;
}

/** `count` images drawn from `dist`, the same for the same seed. */
export function generateImages(count: number, seed: number, dist: ImageDistribution = {}): GeneratedImage[] {
  const rand = mulberry32(seed);
  const size = dist.size ?? 24;
  const [bgLo, bgHi] = dist.background ?? [0, 60];
  const [fgLo, fgHi] = dist.foreground ?? [140, 255];
  const noise = dist.noise ?? 8;
  const shift = dist.brightnessShift ?? 0;
  const weights = SHAPES.map((s) => dist.mix?.[s] ?? (dist.mix ? 0 : 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const out: GeneratedImage[] = [];
  for (let n = 0; n < count; n++) {
    let pick = rand() * total;
    let shape: Shape = SHAPES[0];
    for (let i = 0; i < SHAPES.length; i++) {
      pick -= weights[i]!;
      if (pick < 0) {
        shape = SHAPES[i]!;
        break;
      }
    }
    const bg = bgLo + rand() * (bgHi - bgLo);
    const fg = fgLo + rand() * (fgHi - fgLo);
    const r = size * (0.2 + rand() * 0.2);
    const cx = size / 2 + (rand() - 0.5) * size * 0.2;
    const cy = size / 2 + (rand() - 0.5) * size * 0.2;
    const data = new Uint8Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const base = inside(shape, x + 0.5 - cx, y + 0.5 - cy, r) ? fg : bg;
        const v = base + (rand() * 2 - 1) * noise + shift;
        data[y * size + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
    out.push({ shape, image: { width: size, height: size, channels: 1, data } });
  }
  return out;
}
