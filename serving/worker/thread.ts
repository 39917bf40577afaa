/**
 * The inference worker thread: selects the tfjs backend the main thread
 * chose, builds the model from the parts in `workerData` (as one TensorFlow
 * graph where it can: model/artifact/graph.ts), answers `ready`, then runs
 * one batch per `predict` message, in arrival order. Runs with
 * Node's TypeScript type stripping, so it imports only a few erasable-syntax
 * files (see model/artifact/layers.ts).
 *
 * @see https://nodejs.org/api/worker_threads.html
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { chooseExecution } from '../../model/artifact/graph.ts';
import { buildLayersModel, predictBatch } from '../../model/artifact/layers.ts';
import { loadedNativePackage, selectBackend } from '../../model/backend.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('serving/worker/thread.ts runs only as a worker thread');
const init = workerData as WorkerInit;
const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

try {
  const backend = await selectBackend([init.backend], init.backend);
  const model = await buildLayersModel(init.parts);
  const input = init.parts.input;
  const runner = await chooseExecution(model, input, init.execution, loadedNativePackage(), (flat, n) =>
    predictBatch(model, input, flat, n),
  );
  // Warm up kernels for one image before saying ready.
  await runner.predict(new Float32Array(input[0] * input[1] * input[2]), 1);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'predict') {
      runner.predict(m.flat, m.n).then(
        (probs) => send({ type: 'result', id: m.id, probs }, [probs.buffer as ArrayBuffer]),
        (e: unknown) => send({ type: 'error', id: m.id, message: String((e as Error)?.message ?? e) }),
      );
    } else if (m.type === 'memory') {
      const { numTensors, numBytes } = tf.memory();
      send({ type: 'memory', id: m.id, numTensors, numBytes });
    } else if (m.type === 'exit') {
      process.exit(m.code);
    }
  });
  send({ type: 'ready', backend: backend.name, execution: runner.execution });
} catch (e) {
  send({
    type: 'init-error',
    code: String((e as { code?: string }).code ?? 'INTERNAL'),
    message: String((e as Error)?.message ?? e),
  });
}
