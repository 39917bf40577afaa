/**
 * Public API of the inference server (docs/serving.md): the Koa app factory
 * (its routers: ./routes), configuration, model loading (the artifact is read
 * and its digests checked by model/artifact), the micro-batcher, the
 * inference worker thread and the metrics module that monitoring/ reads.
 */
export { type AppOptions, createApp, type ServingApp, type ServingHandles } from './app.ts';
export { Batcher, type BatcherOptions } from './batcher.ts';
export { loadConfig, type ServingConfig, type ServingEnv } from './config.ts';
export { type Prediction, topK } from './inference.ts';
export { Lifecycle } from './lifecycle.ts';
export { createLogger, type Logger } from './logger.ts';
export { createMetrics, type ServingMetrics } from './metrics.ts';
export {
  backendNameOf,
  type InferenceRunner,
  type LoadModelOptions,
  loadModel,
  type ServedModel,
} from './model.ts';
export { boot, listen, shutdown, urlOf } from './server.ts';
export {
  InferenceWorker,
  type InferenceWorkerOptions,
  type LaunchedThread,
  type WorkerMemory,
} from './worker/index.ts';
