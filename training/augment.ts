/**
 * Data augmentation on preprocessed HWC float samples, seeded: random crop
 * with zero padding (pad `crop` pixels on each side, cut back to the
 * original size at a random offset) and random horizontal flip, the
 * standard CIFAR-10 augmentation. `padding: "reflect"` pads with the image
 * mirrored at its edge instead (airbench's translate).
 *
 * @see https://arxiv.org/abs/1512.03385 section 4.2 (pad 4, random crop, flip)
 */
import type { AugmentationConfig } from './config.ts';
import type { Rng } from './data/index.ts';

export interface SampleShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * Augment one sample from `src` into `dst` (both HWC, same shape; they must
 * not overlap). Draws from `rng` in a fixed order so a seed gives the same
 * result on every machine.
 */
export function augmentSample(
  src: Float32Array,
  dst: Float32Array,
  shape: SampleShape,
  aug: AugmentationConfig,
  rng: Rng,
): void {
  const { height: h, width: w, channels: c } = shape;
  const pad = aug.enabled ? aug.crop : 0;
  const offset = () => Math.floor(rng() * (2 * pad + 1)) - pad;
  const dy = pad > 0 ? offset() : 0;
  const dx = pad > 0 ? offset() : 0;
  const flip = aug.enabled && aug.flip && rng() < 0.5;
  const reflect = aug.padding === 'reflect';
  // Reflect about the edge pixel (numpy's / PyTorch's 'reflect': -1 -> 1, h -> h - 2).
  const mirror = (v: number, n: number) => (v < 0 ? -v : v >= n ? 2 * (n - 1) - v : v);
  for (let y = 0; y < h; y++) {
    let sy = y + dy;
    if (reflect) sy = mirror(sy, h);
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * c;
      const sxRaw = flip ? w - 1 - x : x;
      let sx = sxRaw + dx;
      if (reflect) sx = mirror(sx, w);
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        dst.fill(0, o, o + c);
      } else {
        const s = (sy * w + sx) * c;
        for (let k = 0; k < c; k++) dst[o + k] = src[s + k]!;
      }
    }
  }
}
