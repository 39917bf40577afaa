import { describe, expect, it } from '@jest/globals';
import { augmentSample } from './augment.ts';
import { mulberry32 } from './data/index.ts';

const shape = { height: 3, width: 4, channels: 1 };
// Row-major 3x4 image with distinct values 1..12.
const src = Float32Array.from({ length: 12 }, (_, i) => i + 1);

describe('augmentSample', () => {
  it('copies the sample unchanged when augmentation is disabled', () => {
    const dst = new Float32Array(12);
    augmentSample(src, dst, shape, { enabled: false, crop: 2, flip: true }, mulberry32(1));
    expect(Array.from(dst)).toEqual(Array.from(src));
  });

  it('flips horizontally about half of the time, and a flip mirrors each row', () => {
    const rng = mulberry32(7);
    let flipped = 0;
    for (let i = 0; i < 200; i++) {
      const dst = new Float32Array(12);
      augmentSample(src, dst, shape, { enabled: true, crop: 0, flip: true }, rng);
      if (dst[0] === 4) {
        flipped++;
        expect(Array.from(dst)).toEqual([4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]);
      } else {
        expect(Array.from(dst)).toEqual(Array.from(src));
      }
    }
    expect(flipped).toBeGreaterThan(70);
    expect(flipped).toBeLessThan(130);
  });

  it('crops with zero padding: a shifted copy of the image, zeros where it leaves the frame', () => {
    const rng = mulberry32(3);
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const dst = new Float32Array(12);
      augmentSample(src, dst, shape, { enabled: true, crop: 1, flip: false }, rng);
      // Every non-zero value sits at its source position shifted by one (dx, dy) in [-1, 1].
      const shifts = new Set<string>();
      dst.forEach((v, o) => {
        if (v === 0) return;
        const s = v - 1;
        shifts.add(`${Math.floor(o / 4) - Math.floor(s / 4)},${(o % 4) - (s % 4)}`);
      });
      expect(shifts.size).toBe(1);
      const [dy, dx] = [...shifts][0]!.split(',').map(Number);
      expect(Math.abs(dy!)).toBeLessThanOrEqual(1);
      expect(Math.abs(dx!)).toBeLessThanOrEqual(1);
      seen.add([...shifts][0]!);
    }
    expect(seen.size).toBe(9); // all 3x3 offsets occur
  });

  it('gives the same result for the same seed', () => {
    const run = (seed: number) => {
      const rng = mulberry32(seed);
      return Array.from({ length: 10 }, () => {
        const dst = new Float32Array(12);
        augmentSample(src, dst, shape, { enabled: true, crop: 1, flip: true }, rng);
        return Array.from(dst);
      });
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });

  it('reflect padding mirrors the image at its edge instead of padding with zeros', () => {
    // rng draws dy, dx, flip: 0.4 -> dy 0, 0 -> dx -1, 0.9 -> no flip.
    const draws = [0.4, 0, 0.9];
    const rng = () => draws.shift() as number;
    const dst = new Float32Array(12);
    augmentSample(src, dst, shape, { enabled: true, crop: 1, flip: true, padding: 'reflect' }, rng);
    // Shifted right by one: column -1 is column 1 mirrored (reflect about the edge pixel).
    expect(Array.from(dst)).toEqual([2, 1, 2, 3, 6, 5, 6, 7, 10, 9, 10, 11]);
    const zeros = [0.4, 0, 0.9];
    const zeroed = new Float32Array(12);
    augmentSample(src, zeroed, shape, { enabled: true, crop: 1, flip: true }, () => zeros.shift() as number);
    expect(Array.from(zeroed)).toEqual([0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11]);
  });
});
