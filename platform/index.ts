/**
 * The platform's light core: errors, schemas, deterministic JSON, atomic
 * files, digests, tables and the CLI prelude. It loads no heavy dependency,
 * so any module may import it. The clients of outside systems are imported
 * by folder, each folder's index.ts being its public API (docs/contracts.md,
 * "Layers"): artifact-store/, mlflow/, git/, github/, kube/ (loads
 * @kubernetes/client-node); shell.ts loads zx.
 */
export * from './cli.ts';
export * from './clock.ts';
export * from './digest.ts';
export * from './errors.ts';
export * from './fs.ts';
export * from './json.ts';
export * from './json-text.ts';
export * from './redact.ts';
export * from './schema.ts';
export * from './table.ts';
