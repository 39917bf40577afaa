/**
 * Public API of the inference server (docs/serving.md): the Koa app factory,
 * configuration, model loading with digest checks, the micro-batcher, the
 * inference worker thread and the metrics module that monitoring/ reads.
 */
export { type AppOptions, createApp, Lifecycle, type ServingApp, type ServingHandles } from './app.ts';
export { fetchVerifiedArtifact, REQUIRED_FILES, type VerifiedArtifact } from './artifact.ts';
export { Batcher, type BatcherOptions } from './batcher.ts';
export { loadConfig, type ServingConfig, type ServingEnv } from './config.ts';
export { type Prediction, topK } from './inference.ts';
export { createLogger, type Logger, memoryLogger } from './logger.ts';
export { createMetrics, type ServingMetrics } from './metrics.ts';
export {
  backendNameOf,
  type InferenceRunner,
  type LoadModelOptions,
  loadModel,
  type ServedModel,
} from './model.ts';
export { boot, listen, shutdown, urlOf } from './server.ts';
export { InferenceWorker, type InferenceWorkerOptions, type WorkerMemory } from './worker/index.ts';
