/**
 * Drawing of the demo data set's classes: simple shapes at a random
 * position, size and brightness, with Gaussian noise, anti-aliased by 4x4
 * supersampling. Everything comes from the PRNG passed in.
 */
import type { DecodedImage } from '../../model/images.ts';
import { type Rng, randInt, randNormal } from './rng.ts';

export const SHAPES = ['circle', 'cross', 'square', 'triangle'] as const; // sorted: class index = folder order
export type Shape = (typeof SHAPES)[number];

/** Is (dx, dy), relative to the centre, inside the shape of half-size r? */
function inside(shape: Shape, dx: number, dy: number, r: number): boolean {
  switch (shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square':
      return Math.abs(dx) <= r * 0.8 && Math.abs(dy) <= r * 0.8;
    case 'triangle': {
      // Apex at the top (-r), base at +0.8r; half-width grows linearly to r.
      if (dy < -r || dy > 0.8 * r) return false;
      return Math.abs(dx) <= (r * (dy + r)) / (1.8 * r);
    }
    case 'cross': {
      const bar = r * 0.3;
      return (Math.abs(dx) <= bar && Math.abs(dy) <= r) || (Math.abs(dy) <= bar && Math.abs(dx) <= r);
    }
  }
}

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** Draw one example of `shape` on a size x size canvas with 1 or 3 channels. */
export function drawShape(shape: Shape, size: number, channels: 1 | 3, rng: Rng): DecodedImage {
  const r = size * (0.22 + rng() * 0.16);
  const margin = r * 0.9;
  const cx = margin + rng() * (size - 2 * margin);
  const cy = margin + rng() * (size - 2 * margin);
  // Light shape on dark ground, both at random levels: brightness varies but tells nothing about the
  // class. (Random polarity as well made a small CNN need about twice the epochs to reach 90 %.)
  const dark = randInt(rng, 0, 80);
  const light = randInt(rng, 160, 255);
  const tint = (): number[] => Array.from({ length: channels }, () => randInt(rng, -25, 25));
  const fg = tint().map((t) => light + t);
  const bg = tint().map((t) => dark + t);
  const noise = 4 + rng() * 8;
  const data = new Uint8Array(size * size * channels);
  const S = 4; // supersampling per axis
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let hits = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          if (inside(shape, x + (sx + 0.5) / S - cx, y + (sy + 0.5) / S - cy, r)) hits++;
        }
      }
      const cover = hits / (S * S);
      for (let c = 0; c < channels; c++) {
        const v = bg[c]! + (fg[c]! - bg[c]!) * cover + randNormal(rng) * noise;
        data[(y * size + x) * channels + c] = clamp(v);
      }
    }
  }
  return { width: size, height: size, channels, data };
}
