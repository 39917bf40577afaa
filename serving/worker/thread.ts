/**
 * The inference worker thread: loads its tfjs backend as soon as it starts
 * (answering `backend`, while the main thread is still fetching the model),
 * then builds the model from the parts of the `load` message (as one
 * TensorFlow graph where it can: model/artifact/graph.ts), answers `ready`,
 * and runs one batch per `predict` message, in arrival order. Runs with
 * Node's TypeScript type stripping, so it imports only a few erasable-syntax
 * files (see model/artifact/layers.ts).
 *
 * @see https://nodejs.org/api/worker_threads.html
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { chooseExecution } from '../../model/artifact/graph.ts';
import { buildLayersModel, predictBatch } from '../../model/artifact/layers.ts';
import { loadedNativePackage, SERVING_ORDER, selectBackend } from '../../model/backend.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('serving/worker/thread.ts runs only as a worker thread');
const init = workerData as WorkerInit;
const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const initError = (e: unknown) =>
  send({
    type: 'init-error',
    code: String((e as { code?: string }).code ?? 'INTERNAL'),
    message: String((e as Error)?.message ?? e),
  });

type Runner = Awaited<ReturnType<typeof chooseExecution>>;

/** Build the model on the loaded backend and warm its kernels up for one image. */
async function load(m: Extract<ToWorker, { type: 'load' }>): Promise<Runner> {
  const model = await buildLayersModel(m.parts);
  const input = m.parts.input;
  const runner = await chooseExecution(model, input, m.execution, loadedNativePackage(), (flat, n) =>
    predictBatch(model, input, flat, n),
  );
  await runner.predict(new Float32Array(input[0] * input[1] * input[2]), 1);
  return runner;
}

try {
  const choice = await selectBackend(init.force ? [init.force] : SERVING_ORDER, init.force);
  let runner: Runner | undefined;
  port.on('message', (m: ToWorker) => {
    if (m.type === 'load') {
      load(m).then((r) => {
        runner = r;
        send({ type: 'ready', execution: r.execution });
      }, initError);
    } else if (m.type === 'predict') {
      if (!runner) {
        send({ type: 'error', id: m.id, message: 'no model is loaded in this thread' });
        return;
      }
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
  send({ type: 'backend', choice });
} catch (e) {
  initError(e);
}
