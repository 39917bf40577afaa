/**
 * Where the time of one /predict goes, without HTTP: decoding + preprocessing
 * one PNG (libvips thread pool + main thread, per request) and running the model on a batch of n
 * images (per batch), timed in-process on each backend. With these, the
 * share of inference in a request, and so what micro-batching can win, is
 * known before the load test.
 */
import * as tf from '@tensorflow/tfjs';
import { buildLayersModel, predictBatch } from '../../model/artifact/layers.ts';
import { fetchVerifiedArtifact, modelParts } from '../../model/artifact/read.ts';
import { type BackendName, selectBackend } from '../../model/backend.ts';
import type { ModelPin } from '../../model/pin.ts';
import { decodeImage, toModelInput } from '../../model/preprocessing.ts';

export interface ProfileRow {
  backend: string;
  /** Microseconds to decode + preprocess one image. */
  decodeUs: number;
  /** Batch size → milliseconds per batch. */
  batchMs: Record<string, number>;
}

/** Median of `reps` timings of `f` after `warm` untimed runs, in ms. */
async function median(f: () => unknown, reps: number, warm = 5): Promise<number> {
  for (let i = 0; i < warm; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Time decode + preprocess of `image` and the model at each batch size, on each backend. */
export async function profileInference(
  pin: ModelPin,
  image: Uint8Array,
  backends: BackendName[],
  batchSizes = [1, 8, 32, 64],
): Promise<ProfileRow[]> {
  const artifact = await fetchVerifiedArtifact(pin, {});
  const { parts, spec } = modelParts(artifact);
  const rows: ProfileRow[] = [];
  for (const b of backends) {
    const choice = await selectBackend([b], b);
    const model = await buildLayersModel(parts);
    try {
      const decodeMs = await median(async () => toModelInput(await decodeImage(image, {}), spec), 400, 50);
      const batchMs: Record<string, number> = {};
      for (const n of batchSizes) {
        const size = n * parts.input[0] * parts.input[1] * parts.input[2];
        batchMs[String(n)] = Number(
          (await median(() => predictBatch(model, parts.input, new Float32Array(size), n), 60)).toFixed(3),
        );
      }
      rows.push({ backend: choice.name, decodeUs: Number((decodeMs * 1000).toFixed(0)), batchMs });
    } finally {
      model.dispose();
    }
  }
  await tf.setBackend('cpu');
  return rows;
}
