/**
 * Inference in a worker thread (docs/serving.md, "Throughput"): the main
 * thread parses HTTP and decodes images while the worker runs batches, so
 * health checks and scrapes are answered during inference.
 */
export {
  InferenceWorker,
  type InferenceWorkerOptions,
  type LaunchedThread,
  type WorkerMemory,
} from './client.ts';
