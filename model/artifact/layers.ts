/**
 * Build a tfjs LayersModel from the in-memory, digest-checked parts of an
 * artifact, check its shapes against preprocessing.json and labels.json, and
 * run one batch. Shared by serving's in-process path (serving/model.ts), its
 * inference worker thread (serving/worker/thread.ts) and the offline drift
 * job, so all load and predict the same way; ./read.ts makes the parts.
 *
 * This file is loaded by the worker thread with Node's own TypeScript type
 * stripping (no tsx or jest transform there), so it imports only tfjs and
 * platform/errors.ts (and types), and uses erasable syntax only.
 *
 * @see https://js.tensorflow.org/api/latest/#loadLayersModel custom IOHandler
 * @see https://github.com/tensorflow/tfjs/blob/master/tfjs-core/src/io/types.ts ModelArtifacts
 */
import * as tf from '@tensorflow/tfjs';
import { ProjectError } from '../../platform/errors.ts';
import type { ModelWeights } from '../model-io.ts';

/** What a thread needs to build the model: plain data, structured-clone safe. */
export interface ModelParts extends ModelWeights {
  /** Where the artifact came from, for messages. */
  uri: string;
  /** [height, width, channels] of preprocessing.json. */
  input: [number, number, number];
  /** Number of labels in labels.json. */
  labels: number;
}

/**
 * Load the LayersModel and check that its input is `[null, h, w, c]` and its
 * output has one unit per label.
 * @throws ProjectError INVALID naming model.json and the shapes.
 */
export async function buildLayersModel(parts: ModelParts): Promise<tf.LayersModel> {
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: parts.modelTopology,
      weightSpecs: parts.weightSpecs,
      weightData: parts.weightData,
      ...(parts.format ? { format: parts.format } : {}),
      ...(parts.generatedBy ? { generatedBy: parts.generatedBy } : {}),
      ...(parts.convertedBy ? { convertedBy: parts.convertedBy } : {}),
    }),
  };
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(handler);
  } catch (e) {
    throw new ProjectError(
      'INVALID',
      `model.json of ${parts.uri} cannot be loaded: ${(e as Error).message}`,
      {
        subject: 'model.json',
        cause: e,
      },
    );
  }
  const inShape = model.inputs[0]?.shape ?? [];
  const outShape = model.outputs[0]?.shape ?? [];
  const want = parts.input;
  if (inShape.length !== 4 || want.some((d, i) => inShape[i + 1] !== d)) {
    model.dispose();
    throw new ProjectError(
      'INVALID',
      `model input shape ${JSON.stringify(inShape)} does not match preprocessing.json [null,${want.join(',')}]`,
      { subject: 'model.json' },
    );
  }
  if (outShape[outShape.length - 1] !== parts.labels) {
    model.dispose();
    throw new ProjectError(
      'INVALID',
      `model output shape ${JSON.stringify(outShape)} does not have one unit per label (${parts.labels} in labels.json)`,
      { subject: 'model.json' },
    );
  }
  return model;
}

/**
 * Probabilities of `n` preprocessed images laid out flat (HWC each):
 * `n * labels` floats. Disposes every tensor it makes.
 */
export async function predictBatch(
  model: tf.LayersModel,
  input: [number, number, number],
  flat: Float32Array,
  n: number,
): Promise<Float32Array> {
  const out = tf.tidy(() => {
    const x = tf.tensor4d(flat, [n, ...input], 'float32');
    return model.predict(x) as tf.Tensor;
  });
  try {
    return (await out.data()) as Float32Array;
  } finally {
    out.dispose();
  }
}
