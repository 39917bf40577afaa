/**
 * Online drift detection of the server (docs/drift.md): settings from
 * `SERVING_DRIFT_*` and the monitor the request path feeds after inference.
 */
export { DEFAULT_DRIFT_WINDOW_SIZE, type DriftConfig, driftConfigFromEnv } from './config.ts';
export { createDriftMonitor, type DriftMonitor, featuresOfModelInput, REFERENCE_FILE } from './monitor.ts';
