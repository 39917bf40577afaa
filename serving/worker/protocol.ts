/**
 * Messages between the serving main thread and its inference worker thread
 * (structured clone; input and output buffers are transferred, not copied).
 *
 * @see https://nodejs.org/api/worker_threads.html#portpostmessagevalue-transferlist
 */

import type { ModelExecution } from '../../model/artifact/graph.ts';
import type { ModelParts } from '../../model/artifact/layers.ts';
import type { BackendChoice, BackendName } from '../../model/backend.ts';

/**
 * `workerData` of the thread: the backend to load (model/backend.ts
 * selectBackend: `force`, else the fastest of the serving order that loads).
 * The thread loads it at once and answers `backend`; the model comes later
 * in a `load` message, so the thread's start overlaps the main thread's.
 */
export interface WorkerInit {
  force?: BackendName;
}

/** Main → worker. */
export type ToWorker =
  /** Build the model (once, after `backend`): answered `ready` or `init-error`. */
  | {
      type: 'load';
      parts: ModelParts;
      /** How to run the model (SERVING_MODEL_EXECUTION); graph falls back to layers, saying why. */
      execution: ModelExecution['kind'];
    }
  | { type: 'predict'; id: number; flat: Float32Array; n: number }
  | { type: 'memory'; id: number }
  /** Exit the thread with `code`: a crash drill for tests and operators. */
  | { type: 'exit'; code: number };

/** Worker → main. */
export type FromWorker =
  | { type: 'backend'; choice: BackendChoice }
  | { type: 'ready'; execution: ModelExecution }
  | { type: 'init-error'; code: string; message: string }
  | { type: 'result'; id: number; probs: Float32Array }
  | { type: 'error'; id: number; message: string }
  | { type: 'memory'; id: number; numTensors: number; numBytes: number };
