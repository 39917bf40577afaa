/**
 * Drift detection shared by serving (online, sliding window) and the drift
 * report job (offline): the reference-stats.json reader, the binned window
 * and the statistics (docs/drift.md).
 */
export * from './evaluate.ts';
export * from './reference.ts';
export * from './stats.ts';
export * from './window.ts';
