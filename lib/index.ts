/**
 * The shared library's public entry: what training/, serving/, monitoring/
 * and scripts/ may use. Anything not exported here is internal.
 */
export * from './backend.ts';
export * from './cli.ts';
export * from './digest.ts';
export * from './errors.ts';
export * from './fs.ts';
export * from './json.ts';
export * from './schema.ts';
