/**
 * The server's command (serving/Dockerfile CMD: `node serving/main.ts`):
 * starts the inference thread first, so that loading the tfjs backend there
 * (libtensorflow) overlaps loading the server's code here, then starts the
 * server (serving/run.ts) with it. This file imports nothing heavy: the
 * thread starts before the server's modules are even read
 * (tools/policy/layers.test.ts; bench/serving/startup.ts measures start-up).
 * SERVING_INFERENCE_THREAD=main starts no thread. Configuration, exit codes:
 * serving/run.ts.
 */

import type { BackendName } from '../model/backend.ts';
import { isMain } from '../platform/cli.ts';
import { InferenceWorker } from './worker/client.ts';

if (isMain(import.meta.url)) {
  // run.ts checks SERVING_BACKEND; a bad name fails the thread too, and run.ts stops it.
  const force = process.env.SERVING_BACKEND as BackendName | undefined;
  const thread =
    process.env.SERVING_INFERENCE_THREAD === 'main'
      ? undefined
      : InferenceWorker.launch(force ? { force } : {});
  const { start } = await import('./run.ts');
  start({}, thread);
}
