/**
 * Load a verified artifact into a tfjs LayersModel with a custom IOHandler
 * (model.json topology + weights from the in-memory, digest-checked files),
 * and run batched inference on preprocessed inputs.
 *
 * @see https://js.tensorflow.org/api/latest/#loadLayersModel custom IOHandler
 * @see https://github.com/tensorflow/tfjs/blob/master/tfjs-core/src/io/types.ts ModelArtifacts
 */
import * as tf from '@tensorflow/tfjs';
import { compileValidator, ProjectError } from '../lib/index.ts';
import { type PreprocessingSpec, parsePreprocessingSpec } from '../training/preprocessing.ts';
import type { VerifiedArtifact } from './artifact.ts';
import type { ModelPin } from './config.ts';

/** The model version this process serves, ready for inference. */
export interface ServedModel {
  name: string;
  version: string;
  /** Root digest of the artifact. */
  sha256: string;
  labels: string[];
  spec: PreprocessingSpec;
  /** metrics.json of the artifact, if it has one. */
  evaluation?: unknown;
  /** Other verified files (samples/, plots), by name. */
  files: Map<string, Uint8Array>;
  /** Floats per image: height * width * channels. */
  inputSize: number;
  /**
   * Probabilities for `n` preprocessed images laid out flat (HWC each);
   * returns `n * labels.length` floats. Disposes every tensor it makes.
   */
  predict(flat: Float32Array, n: number): Promise<Float32Array>;
  /** Run one batch of zeros so the first request does not pay for kernel set-up. */
  warmup(batchSize?: number): Promise<void>;
  dispose(): void;
}

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

const validateModelJson = compileValidator<ModelJson>({
  type: 'object',
  required: ['modelTopology', 'weightsManifest'],
  properties: {
    modelTopology: { type: 'object' },
    weightsManifest: {
      type: 'array',
      items: {
        type: 'object',
        required: ['paths', 'weights'],
        properties: { paths: { type: 'array', items: { type: 'string' } }, weights: { type: 'array' } },
      },
    },
  },
});
const validateLabels = compileValidator<string[]>({
  type: 'array',
  minItems: 2,
  uniqueItems: true,
  items: { type: 'string', minLength: 1 },
});

function jsonOf(artifact: VerifiedArtifact, file: string): unknown {
  const bytes = artifact.files.get(file);
  if (!bytes)
    throw new ProjectError('NOT_FOUND', `artifact ${artifact.uri} has no ${file}`, { subject: file });
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ProjectError(
      'INVALID',
      `${file} of artifact ${artifact.uri} is not valid JSON: ${(e as Error).message}`,
      {
        subject: file,
      },
    );
  }
}

function concat(parts: Uint8Array[]): ArrayBuffer {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out.buffer;
}

/**
 * Build the served model from a verified artifact. Checks that the model's
 * input is `[null, height, width, channels]` of preprocessing.json and that
 * its output has one unit per label.
 */
export async function loadModel(artifact: VerifiedArtifact, pin: ModelPin): Promise<ServedModel> {
  const modelJson = validateModelJson(jsonOf(artifact, 'model.json'), 'model.json');
  const labels = validateLabels(jsonOf(artifact, 'labels.json'), 'labels.json');
  const spec = parsePreprocessingSpec(jsonOf(artifact, 'preprocessing.json'), 'preprocessing.json');
  const shards = modelJson.weightsManifest.flatMap((g) => g.paths);
  const weightParts = shards.map((p) => {
    const bytes = artifact.files.get(p);
    if (!bytes) {
      throw new ProjectError(
        'INVALID',
        `model.json names weight shard ${p}, which the pinned digests do not cover`,
        {
          subject: p,
          hint: 'every file the model reads must be listed in digests.json and the lock entry',
        },
      );
    }
    return bytes;
  });
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
      weightData: concat(weightParts),
      format: modelJson.format,
      generatedBy: modelJson.generatedBy,
      convertedBy: modelJson.convertedBy ?? undefined,
    }),
  };
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(handler);
  } catch (e) {
    throw new ProjectError(
      'INVALID',
      `model.json of ${artifact.uri} cannot be loaded: ${(e as Error).message}`,
      {
        subject: 'model.json',
        cause: e,
      },
    );
  }
  const inShape = model.inputs[0]?.shape ?? [];
  const outShape = model.outputs[0]?.shape ?? [];
  const want = [spec.height, spec.width, spec.channels];
  if (inShape.length !== 4 || want.some((d, i) => inShape[i + 1] !== d)) {
    model.dispose();
    throw new ProjectError(
      'INVALID',
      `model input shape ${JSON.stringify(inShape)} does not match preprocessing.json [null,${want.join(',')}]`,
      { subject: 'model.json' },
    );
  }
  if (outShape[outShape.length - 1] !== labels.length) {
    model.dispose();
    throw new ProjectError(
      'INVALID',
      `model output shape ${JSON.stringify(outShape)} does not have one unit per label (${labels.length} in labels.json)`,
      { subject: 'model.json' },
    );
  }
  const inputSize = spec.height * spec.width * spec.channels;
  const predict = async (flat: Float32Array, n: number): Promise<Float32Array> => {
    const out = tf.tidy(() => {
      const x = tf.tensor4d(flat, [n, spec.height, spec.width, spec.channels], 'float32');
      return model.predict(x) as tf.Tensor;
    });
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  };
  return {
    name: pin.name,
    version: pin.version,
    sha256: pin.sha256,
    labels,
    spec,
    ...(artifact.files.has('metrics.json') ? { evaluation: jsonOf(artifact, 'metrics.json') } : {}),
    files: artifact.files,
    inputSize,
    predict,
    warmup: async (batchSize = 1) => {
      await predict(new Float32Array(inputSize * batchSize), batchSize);
    },
    dispose: () => model.dispose(),
  };
}
