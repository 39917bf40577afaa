/**
 * Experiment tracking: the run recorder (MLflow or the local store, with the
 * local store as offline buffer), its training-callback adapter, and the
 * upload of local runs to a server. See docs/tracking.md.
 */
export {
  datasetInput,
  type EpochMetrics,
  MLFLOW_DATASET_DIGEST_LENGTH,
  MODEL_ARTIFACT_PATH,
  type RunDataset,
  type RunEndResult,
  type RunStartInfo,
  type TrackingCallbackOptions,
  trackingCallbacks,
} from './callbacks.ts';
export {
  type SourceInfo,
  sourceInfoFromActionsEnv,
  sourceInfoFromGit,
  sourceInfoFromJob,
  sourceTags,
} from './ci-tags.ts';
export { recorderFromEnv, type TrackingEnvOptions } from './config.ts';
export { flattenParams, MAX_PARAM_VALUE_LENGTH } from './flatten.ts';
export {
  DEFAULT_LOCAL_STORE,
  LOCAL_RUN_FORMAT,
  type LocalRunJson,
  LocalRunStore,
  type LocalRunUpload,
} from './local-store.ts';
export { type RecorderOptions, RunRecorder, type TrackingResult } from './recorder.ts';
export {
  LocalSink,
  MlflowSink,
  type RunBatch,
  type RunSink,
  type RunStart,
  type StartedRun,
} from './sinks.ts';
export { type UploadOutcome, uploadLocalRuns } from './upload.ts';
