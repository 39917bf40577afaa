/**
 * Test-only: send generated images to a running server's /predict as JSON
 * batches of base64 PNGs (docs/serving.md), the way a client would.
 */

import { encodePng } from '../../model/preprocessing.ts';
import { type GeneratedImage, generateImages, type ImageDistribution } from '../drift/images.ts';

/** PNG bytes of a generated image. */
export const pngOf = (g: GeneratedImage): Buffer => Buffer.from(encodePng(g.image));

/** POST `images` to `${url}/predict` in batches; throws on any non-200 answer. */
export async function sendImages(url: string, images: readonly GeneratedImage[], batch = 50): Promise<void> {
  for (let i = 0; i < images.length; i += batch) {
    const body = JSON.stringify({
      images: images.slice(i, i + batch).map((g) => pngOf(g).toString('base64')),
    });
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (res.status !== 200)
      throw new Error(`POST ${url}/predict answered ${res.status}: ${await res.text()}`);
  }
}

/** Generate `count` images from `dist` and send them. */
export async function sendTraffic(
  url: string,
  count: number,
  seed: number,
  dist: ImageDistribution = {},
): Promise<void> {
  await sendImages(url, generateImages(count, seed, dist));
}
