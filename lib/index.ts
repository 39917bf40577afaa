/**
 * The shared library's light core: errors, schemas, deterministic JSON,
 * atomic files, digests and the CLI prelude. It loads no heavy dependency,
 * so any module may import it. The rest of the shared library is imported by
 * folder, each folder's index.ts being its public API (docs/contracts.md,
 * "Layers"): lock/, artifact-store/, mlflow/, tracking/, git/, github/,
 * gitops/, rollout/ (loads @kubernetes/client-node), drift/, testing/ (tests
 * only), and backend.ts (loads @tensorflow/tfjs).
 */
export * from './cli.ts';
export * from './clock.ts';
export * from './digest.ts';
export * from './errors.ts';
export * from './fs.ts';
export * from './json.ts';
export * from './redact.ts';
export * from './schema.ts';
