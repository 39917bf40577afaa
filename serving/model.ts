/**
 * The served model: a verified artifact (model/artifact/read.ts) built into
 * a tfjs LayersModel (model/artifact/layers.ts), run as one TensorFlow graph
 * on the native backend where it can be (model/artifact/graph.ts), running
 * batched inference on preprocessed inputs in the main thread or in a worker
 * thread (serving/worker), restarted when it crashes.
 */
import * as tf from '@tensorflow/tfjs';
import { chooseExecution, type ModelExecution } from '../model/artifact/graph.ts';
import { buildLayersModel, predictBatch } from '../model/artifact/layers.ts';
import { artifactJson, modelParts, type VerifiedArtifact } from '../model/artifact/read.ts';
import { type BackendName, loadedNativePackage } from '../model/backend.ts';
import type { ModelPin } from '../model/pin.ts';
import type { PreprocessingSpec } from '../model/preprocessing.ts';
import { InferenceWorker, type InferenceWorkerOptions, type LaunchedThread } from './worker/index.ts';

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
  /** Where inference runs. */
  runner: InferenceRunner;
  /** How the model runs there: one graph call per batch, or the layers op by op (and why). */
  execution: ModelExecution;
  /** Live tfjs tensors where inference runs (the worker's engine in a worker): soak tests. */
  numTensors(): Promise<number>;
  /** False while a crashed worker restarts; `failure` once it was given up on. */
  health(): { available: boolean; failure?: string };
  /** Called when inference becomes unavailable (worker crash) or available again. */
  onAvailability(listener: (available: boolean, reason?: string) => void): void;
  /** The worker thread, when `runner` is 'worker'. */
  worker?: InferenceWorker;
  dispose(): void | Promise<void>;
}

/** Where inference runs: in the main thread, or in a worker thread (the default). */
export type InferenceRunner = 'main' | 'worker';

export interface LoadModelOptions {
  /** Default 'main' (in-process); the server passes SERVING_INFERENCE_THREAD's choice. */
  runner?: InferenceRunner;
  /** The worker thread to build the model in, started earlier (InferenceWorker.launch). */
  thread?: LaunchedThread;
  /** Without `thread`: the backend the worker thread selects (default: the main thread's). */
  backend?: BackendName;
  /** How to run the model (SERVING_MODEL_EXECUTION; default graph, falling back to layers). */
  execution?: ModelExecution['kind'];
  /** Crash and restart events of the worker. */
  log?: InferenceWorkerOptions['log'];
}

/**
 * The model/backend.ts name of a backend package (BackendChoice.package) or
 * tfjs backend name, so that the worker thread selects the main thread's.
 */
export function backendNameOf(packageOrBackend: string): BackendName {
  if (packageOrBackend.includes('tfjs-node-gpu')) return 'tensorflow-gpu';
  if (packageOrBackend.includes('tfjs-node') || packageOrBackend === 'tensorflow') return 'tensorflow';
  if (packageOrBackend.includes('wasm')) return 'wasm';
  return 'cpu';
}

/** The worker's thread: the one started earlier, or one started now on `backend` (default: this thread's). */
function threadOf(opts: LoadModelOptions): Pick<InferenceWorkerOptions, 'thread' | 'backend'> {
  return opts.thread ? { thread: opts.thread } : { backend: opts.backend ?? backendNameOf(tf.getBackend()) };
}

/**
 * Build the served model from a verified artifact. Checks that the model's
 * input is `[null, height, width, channels]` of preprocessing.json and that
 * its output has one unit per label. With `runner: 'worker'` the model is
 * built and run in a worker thread (serving/worker), which is restarted
 * when it crashes.
 */
export async function loadModel(
  artifact: VerifiedArtifact,
  pin: ModelPin,
  opts: LoadModelOptions = {},
): Promise<ServedModel> {
  const { parts, labels, spec } = modelParts(artifact);
  const inputSize = spec.height * spec.width * spec.channels;
  /** What both runners share; `predict` is the runner's own. */
  const runnerParts = (predict: ServedModel['predict']) => ({
    predict,
    warmup: async (batchSize = 1) => {
      await predict(new Float32Array(inputSize * batchSize), batchSize);
    },
  });
  const common = {
    name: pin.name,
    version: pin.version,
    sha256: pin.sha256,
    labels,
    spec,
    ...(artifact.files.has('metrics.json') ? { evaluation: artifactJson(artifact, 'metrics.json') } : {}),
    files: artifact.files,
    inputSize,
  };
  let listeners: ((available: boolean, reason?: string) => void)[] = [];
  if (opts.runner === 'worker') {
    const worker = await InferenceWorker.start({
      parts,
      ...threadOf(opts),
      execution: opts.execution ?? 'graph',
      ...(opts.log ? { log: opts.log } : {}),
      onAvailability: (available, reason) => {
        for (const l of listeners) l(available, reason);
      },
    });
    return {
      ...common,
      ...runnerParts((flat, n) => worker.predict(flat, n)),
      runner: 'worker',
      get execution() {
        return worker.execution;
      },
      numTensors: async () => (await worker.memory()).numTensors,
      health: () => ({
        available: worker.available,
        ...(worker.failure ? { failure: worker.failure } : {}),
      }),
      onAvailability: (l) => {
        listeners.push(l);
      },
      worker,
      dispose: async () => {
        listeners = [];
        await worker.close();
      },
    };
  }
  const model = await buildLayersModel(parts);
  const run = await chooseExecution(
    model,
    parts.input,
    opts.execution ?? 'graph',
    loadedNativePackage(),
    (flat, n) => predictBatch(model, parts.input, flat, n),
  );
  return {
    ...common,
    ...runnerParts(run.predict),
    runner: 'main',
    execution: run.execution,
    numTensors: async () => tf.memory().numTensors,
    health: () => ({ available: true }),
    onAvailability: () => {},
    dispose: () => {
      run.dispose();
      model.dispose();
    },
  };
}
