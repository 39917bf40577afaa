/**
 * From image bytes to ranked labels: decode and preprocess with the shared
 * training/preprocessing.ts (so serving cannot skew from training), run
 * through the micro-batcher, and count each prediction in the metrics.
 */
import { decodeImage, toModelInput } from '../training/preprocessing.ts';
import { Batcher } from './batcher.ts';
import type { ServingConfig } from './config.ts';
import type { DriftMonitor } from './drift/index.ts';
import type { ServingMetrics } from './metrics.ts';
import type { ServedModel } from './model.ts';

export interface Prediction {
  label: string;
  probability: number;
}

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

/** The k most probable labels, most probable first (ties: label order). */
export function topK(probs: Float32Array, labels: readonly string[], k: number): Prediction[] {
  return labels
    .map((label, i) => ({ label, probability: probs[i] ?? 0, i }))
    .sort((a, b) => b.probability - a.probability || a.i - b.i)
    .slice(0, k)
    .map(({ label, probability }) => ({ label, probability }));
}

/** Count a prediction: top-1 class and its confidence. */
export function recordPrediction(metrics: ServingMetrics, model: ServedModel, probs: Float32Array): void {
  const [top] = topK(probs, model.labels, 1);
  if (!top) return;
  metrics.predictions.inc({ model: model.name, version: model.version, class: top.label });
  metrics.confidence.observe({ model: model.name, version: model.version }, top.probability);
}

/**
 * Decode and preprocess every image first (so one bad image refuses the whole
 * request before any inference), then classify them in the batcher.
 * @throws ProjectError INVALID / TOO_LARGE naming the image (`sources[i]`).
 */
export async function classifyImages(
  images: readonly Uint8Array[],
  sources: readonly string[],
  deps: {
    model: ServedModel;
    batcher: ModelBatcher;
    metrics: ServingMetrics;
    maxPixels: number;
    /** Online drift (serving/drift): sees the decoded images and their probabilities. */
    drift?: Pick<DriftMonitor, 'observeImages'>;
  },
): Promise<Float32Array[]> {
  const decoded = images.map((bytes, i) =>
    decodeImage(bytes, { maxPixels: deps.maxPixels, source: sources[i] }),
  );
  const inputs = decoded.map((image) => toModelInput(image, deps.model.spec));
  const outputs = await deps.batcher.submit(inputs);
  for (const probs of outputs) recordPrediction(deps.metrics, deps.model, probs);
  deps.drift?.observeImages(decoded, outputs);
  return outputs;
}
