/**
 * From image bytes to ranked labels: decode and preprocess with the shared
 * model/preprocessing.ts (so serving cannot skew from training), run
 * through the micro-batcher, and count each prediction in the metrics.
 *
 * Before any pixel is decoded, every image's header is checked (size, JPEG
 * scans), the request's pixels are summed against the per-request limit and
 * reserved from the process's {@link InFlightBudget} of pixels. Decoding runs on libvips'
 * threads; the decoded pixels live only until the image is preprocessed and
 * its drift features are taken, then the reservation is given back.
 */

import { availableParallelism } from 'node:os';
import { topK } from '../model/capture.ts';
import type { ImageFeatures } from '../model/drift/window.ts';
import { decodeImage, imageStatsYielding, inspectImage, toModelInput } from '../model/preprocessing.ts';
import { ProjectError } from '../platform/errors.ts';
import { Batcher } from './batcher.ts';
import type { InFlightBudget } from './budget.ts';
import type { ServingConfig } from './config.ts';
import type { DriftMonitor } from './drift/index.ts';
import type { ServingMetrics } from './metrics.ts';
import type { ServedModel } from './model.ts';

export type { Prediction } from '../model/capture.ts';
export { topK };

/** The batcher of a model: one preprocessed image in, its probabilities out. */
export type ModelBatcher = Batcher<Float32Array, Float32Array>;

/** A batcher that runs `model` and records batch size, inference time and queue depth. */
export function createModelBatcher(
  model: ServedModel,
  batching: ServingConfig['batching'],
  metrics: ServingMetrics,
): ModelBatcher {
  const labels = model.labels.length;
  metrics.queueCapacity.set(batching.queueCapacity);
  return new Batcher<Float32Array, Float32Array>({
    maxBatchSize: batching.maxBatchSize,
    maxWaitMs: batching.maxWaitMs,
    capacity: batching.queueCapacity,
    // A worker thread gets the next batch while the main thread answers the last one.
    concurrency: model.runner === 'worker' ? 2 : 1,
    run: async (items) => {
      const flat = new Float32Array(items.length * model.inputSize);
      items.forEach((x, i) => {
        flat.set(x, i * model.inputSize);
      });
      const probs = await model.predict(flat, items.length);
      return items.map((_, i) => probs.slice(i * labels, (i + 1) * labels));
    },
    onDepth: (d) => metrics.queueDepth.set(d),
    onBatch: (size, seconds) => {
      metrics.batchSize.observe(size);
      metrics.inferenceDuration.observe(seconds);
    },
  });
}

/** Count a prediction: top-1 class and its confidence. */
export function recordPrediction(metrics: ServingMetrics, model: ServedModel, probs: Float32Array): void {
  const [top] = topK(probs, model.labels, 1);
  if (!top) return;
  metrics.predictions.inc({ model: model.name, version: model.version, class: top.label });
  metrics.confidence.observe({ model: model.name, version: model.version }, top.probability);
}

/**
 * Decodes running at once, process-wide: one core is left to the event loop
 * (and the inference thread), so that decoding off the loop cannot starve it
 * of CPU either. libvips itself runs each decode on one thread here (sharp's
 * default concurrency with glibc).
 */
const DECODE_SLOTS = Math.max(1, availableParallelism() - 1);
let decodesRunning = 0;
const decodeWaiters: (() => void)[] = [];

async function inDecodeSlot<T>(f: () => Promise<T>): Promise<T> {
  if (decodesRunning >= DECODE_SLOTS) await new Promise<void>((r) => decodeWaiters.push(r));
  else decodesRunning++;
  try {
    return await f();
  } finally {
    const next = decodeWaiters.shift();
    if (next) next();
    else decodesRunning--;
  }
}

/** The image limits of serving/config.ts that decoding needs. */
export interface ImageLimits {
  maxPixels: number;
  maxRequestPixels: number;
  maxJpegScans: number;
}

/**
 * Check every image's header and the request's pixel sum, reserve the
 * pixels, then decode and preprocess all images (so one bad image refuses
 * the whole request, naming it, before any inference), and classify them in
 * the batcher.
 * @throws ProjectError INVALID / TOO_LARGE naming the image (`sources[i]`),
 *   OVERLOADED when the process's pixel budget is spent.
 */
export async function classifyImages(
  images: readonly Uint8Array[],
  sources: readonly string[],
  deps: {
    model: ServedModel;
    batcher: ModelBatcher;
    metrics: ServingMetrics;
    limits: ImageLimits;
    budget: InFlightBudget;
    /** Online drift (serving/drift): sees the decoded images' features and their probabilities. */
    drift?: Pick<DriftMonitor, 'observeFeatures'>;
  },
): Promise<Float32Array[]> {
  const { limits } = deps;
  const opts = (i: number) => ({
    maxPixels: limits.maxPixels,
    maxScans: limits.maxJpegScans,
    source: sources[i] ?? `images[${i}]`,
  });
  let total = 0;
  images.forEach((bytes, i) => {
    const { width, height } = inspectImage(bytes, opts(i));
    total += width * height;
    if (total > limits.maxRequestPixels) {
      throw new ProjectError(
        'TOO_LARGE',
        `${opts(i).source}: the request's images add up to ${total} pixels up to this one, over the limit of ${limits.maxRequestPixels} pixels per request`,
        { subject: opts(i).source, hint: 'send fewer or smaller images per request' },
      );
    }
  });
  const release = deps.budget.reserve(total);
  let prepared: { input: Float32Array; features: ImageFeatures }[];
  try {
    // All settle before the reservation is given back: a failed image must
    // not free pixels that its siblings are still decoding.
    const settled = await Promise.allSettled(
      images.map(async (bytes, i) => {
        const decoded = await inDecodeSlot(() => decodeImage(bytes, opts(i)));
        return { input: toModelInput(decoded, deps.model.spec), features: await imageStatsYielding(decoded) };
      }),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    prepared = settled.map((r) => (r as PromiseFulfilledResult<(typeof prepared)[number]>).value);
  } finally {
    release();
  }
  const outputs = await deps.batcher.submit(prepared.map((p) => p.input));
  for (const probs of outputs) recordPrediction(deps.metrics, deps.model, probs);
  deps.drift?.observeFeatures(
    prepared.map((p) => p.features),
    outputs,
  );
  return outputs;
}
