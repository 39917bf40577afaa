/**
 * Messages between the serving main thread and its inference worker thread
 * (structured clone; input and output buffers are transferred, not copied).
 *
 * @see https://nodejs.org/api/worker_threads.html#portpostmessagevalue-transferlist
 */

import type { ModelExecution } from '../../model/artifact/graph.ts';
import type { ModelParts } from '../../model/artifact/layers.ts';
import type { BackendName } from '../../model/backend.ts';

/** `workerData` of the thread: the model to build and the backend to build it on. */
export interface WorkerInit {
  parts: ModelParts;
  backend: BackendName;
  /** How to run the model (SERVING_MODEL_EXECUTION); graph falls back to layers, saying why. */
  execution: ModelExecution['kind'];
}

/** Main → worker. */
export type ToWorker =
  | { type: 'predict'; id: number; flat: Float32Array; n: number }
  | { type: 'memory'; id: number }
  /** Exit the thread with `code`: a crash drill for tests and operators. */
  | { type: 'exit'; code: number };

/** Worker → main. */
export type FromWorker =
  | { type: 'ready'; backend: string; execution: ModelExecution }
  | { type: 'init-error'; code: string; message: string }
  | { type: 'result'; id: number; probs: Float32Array }
  | { type: 'error'; id: number; message: string }
  | { type: 'memory'; id: number; numTensors: number; numBytes: number };
