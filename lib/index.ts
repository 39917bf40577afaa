/**
 * The shared library's public entry: what training/, serving/, monitoring/
 * and scripts/ may use. Anything not exported here is internal.
 */

export * from './artifact-store/index.ts';
export * from './backend.ts';
export * from './cli.ts';
export * from './digest.ts';
export * from './drift/index.ts';
export * from './errors.ts';
export * from './fs.ts';
export * from './gitops/index.ts';
export * from './json.ts';
export * from './lock/index.ts';
export * from './mlflow/index.ts';
export * from './promotion/index.ts';
export * from './rollout/index.ts';
export * from './schema.ts';
export * from './tracking/index.ts';
