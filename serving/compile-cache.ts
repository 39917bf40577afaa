/**
 * Fill Node's module compile cache (NODE_COMPILE_CACHE) with the compiled
 * code of every module the server and its inference thread load, so that a
 * container starts without compiling them: serving/Dockerfile runs this at
 * build time, and the image keeps the cache read-only. Starts no server and
 * no thread. bench/serving/startup.ts (runner node-cache) measures the gain.
 *
 *   NODE_COMPILE_CACHE=<dir> node serving/compile-cache.ts
 *
 * @see https://nodejs.org/api/module.html#module-compile-cache
 */
import { constants, enableCompileCache, flushCompileCache } from 'node:module';

if (!process.env.NODE_COMPILE_CACHE) {
  console.error(
    'NODE_COMPILE_CACHE is not set: name the directory to fill, e.g. NODE_COMPILE_CACHE=/app/.node-compile-cache',
  );
  process.exit(2);
}
const enabled = enableCompileCache();
if (enabled.status === constants.compileCacheStatus.FAILED) {
  console.error(`the compile cache could not be enabled: ${enabled.message}`);
  process.exit(1);
}
// The server's start-up imports (main.ts and run.ts start nothing when imported), then the
// thread's (thread.ts runs only as a worker thread: its imports are loaded here instead).
await import('./main.ts');
await import('./run.ts');
await import('../model/artifact/graph.ts');
await import('../model/artifact/layers.ts');
await import('../model/backend.ts');
await import('@tensorflow/tfjs-node');
flushCompileCache();
console.log(`compile cache filled: ${enabled.directory}`);
