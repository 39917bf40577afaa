/**
 * The main thread's handle on the inference worker thread: inference runs
 * there, so decoding, HTTP, health checks and scrapes on the main thread are
 * never blocked by a batch. A crashed thread fails its in-flight batches
 * with UNAVAILABLE (503), is restarted, and the model is unavailable until the
 * new thread is ready; after `maxRestarts` crashes within `restartWindowMs`
 * it is not restarted again and the handle reports `failed`.
 *
 * @see https://nodejs.org/api/worker_threads.html#class-worker
 */
import { Worker } from 'node:worker_threads';
import type { ModelExecution } from '../../model/artifact/graph.ts';
import type { ModelParts } from '../../model/artifact/layers.ts';
import type { BackendName } from '../../model/backend.ts';
import { ProjectError } from '../../platform/errors.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

const THREAD_URL = new URL('./thread.ts', import.meta.url);

export interface InferenceWorkerOptions {
  parts: ModelParts;
  backend: BackendName;
  /** How to run the model (default graph: model/artifact/graph.ts, falling back to layers). */
  execution?: ModelExecution['kind'];
  /** Crashes tolerated within `restartWindowMs` (default 3 in 60 s) before giving up. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** Called when the worker becomes unavailable (crash, gave up) or available again. */
  onAvailability?: (available: boolean, reason?: string) => void;
  /** Where crash and restart events are logged. */
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Live tensors and bytes of the worker's tfjs engine. */
export interface WorkerMemory {
  numTensors: number;
  numBytes: number;
}

interface Pending {
  resolve: (v: never) => void;
  reject: (e: unknown) => void;
}

/** Start a worker thread and resolve once its model is built and warm. */
function spawn(init: WorkerInit): Promise<{ worker: Worker; backend: string; execution: ModelExecution }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(THREAD_URL, { workerData: init });
    const onExit = (code: number) =>
      reject(
        new ProjectError('UNAVAILABLE', `inference worker thread exited with code ${code} while starting`, {
          subject: init.parts.uri,
        }),
      );
    const onError = (e: Error) => reject(e);
    worker.once('exit', onExit);
    worker.once('error', onError);
    worker.once('message', (m: FromWorker) => {
      worker.off('exit', onExit);
      worker.off('error', onError);
      if (m.type === 'ready') resolve({ worker, backend: m.backend, execution: m.execution });
      else {
        void worker.terminate();
        const message = m.type === 'init-error' ? m.message : `unexpected first message ${m.type}`;
        const code = m.type === 'init-error' && m.code === 'INVALID' ? 'INVALID' : 'UNAVAILABLE';
        reject(new ProjectError(code, message, { subject: 'model.json' }));
      }
    });
  });
}

/** Inference in a worker thread; see the module comment. */
export class InferenceWorker {
  readonly #init: WorkerInit;
  readonly #opts: InferenceWorkerOptions;
  #worker: Worker | undefined;
  #backend: string;
  #execution: ModelExecution;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #crashes: number[] = [];
  #closed = false;
  #failure: string | undefined;
  #restarting: Promise<void> | undefined;

  private constructor(
    opts: InferenceWorkerOptions,
    worker: Worker,
    backend: string,
    execution: ModelExecution,
  ) {
    this.#opts = opts;
    this.#init = { parts: opts.parts, backend: opts.backend, execution: opts.execution ?? 'graph' };
    this.#backend = backend;
    this.#execution = execution;
    this.#attach(worker);
  }

  /**
   * Start the thread and build the model there.
   * @throws ProjectError INVALID when the model cannot be built (named in the message).
   */
  static async start(opts: InferenceWorkerOptions): Promise<InferenceWorker> {
    const { worker, backend, execution } = await spawn({
      parts: opts.parts,
      backend: opts.backend,
      execution: opts.execution ?? 'graph',
    });
    return new InferenceWorker(opts, worker, backend, execution);
  }

  /** The tfjs backend the thread runs on. */
  get backend(): string {
    return this.#backend;
  }

  /** How the thread runs the model: one graph call per batch, or the layers. */
  get execution(): ModelExecution {
    return this.#execution;
  }

  /** True while a thread is up and ready. */
  get available(): boolean {
    return this.#worker !== undefined && !this.#closed;
  }

  /** Why the worker was given up on (too many crashes), if it was. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Probabilities for `n` images laid out flat; `flat`'s buffer is transferred (unusable after). */
  predict(flat: Float32Array, n: number): Promise<Float32Array> {
    return this.#call({ type: 'predict', id: 0, flat, n }, [flat.buffer as ArrayBuffer]);
  }

  /** tf.memory() of the worker thread (soak tests check that no tensor leaks). */
  memory(): Promise<WorkerMemory> {
    return this.#call({ type: 'memory', id: 0 });
  }

  /** Make the thread exit with `code`, as a crash would (a drill for tests and operators). */
  simulateCrash(code = 1): void {
    this.#worker?.postMessage({ type: 'exit', code } satisfies ToWorker);
  }

  /** Resolves when a restart under way has finished (or at once). */
  async settled(): Promise<void> {
    while (this.#restarting) await this.#restarting;
  }

  /** Stop the thread; pending calls fail with UNAVAILABLE. */
  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    this.#failAll('the server is shutting down');
    if (w) await w.terminate();
  }

  #call<T>(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<T> {
    const worker = this.#worker;
    if (!worker) return Promise.reject(this.#unavailable());
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: never) => void, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });
  }

  #unavailable(): ProjectError {
    if (this.#closed) return new ProjectError('UNAVAILABLE', 'the server is shutting down', { expose: true });
    if (this.#failure) {
      // The reason (worker error text) is in the log ('inference worker given up'), not in the answer.
      return new ProjectError(
        'UNAVAILABLE',
        'inference is down: the inference worker thread crashed too often and is not restarted',
        {
          expose: true,
          hint: 'the process must be restarted; see the server log',
        },
      );
    }
    return new ProjectError('UNAVAILABLE', 'the inference worker is restarting after a crash', {
      expose: true,
      hint: 'retry in a moment',
      details: { retryAfterSeconds: 1 },
    });
  }

  #failAll(reason: string): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      // The reason is logged ('inference worker crashed'); the client gets no internal text.
      p.reject(
        new ProjectError(
          'UNAVAILABLE',
          'inference failed: the inference worker thread exited while running this batch',
          {
            cause: new Error(reason),
            expose: true,
            hint: 'retry in a moment',
            details: { retryAfterSeconds: 1 },
          },
        ),
      );
    }
  }

  #attach(worker: Worker): void {
    this.#worker = worker;
    let lastError: string | undefined;
    worker.on('message', (m: FromWorker) => {
      if (m.type !== 'result' && m.type !== 'error' && m.type !== 'memory') return;
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.probs as never);
      else if (m.type === 'memory') p.resolve({ numTensors: m.numTensors, numBytes: m.numBytes } as never);
      // A model that throws on a well-formed batch is a server fault: a 500 whose text stays in the log.
      else p.reject(new Error(`inference failed in the worker thread: ${m.message}`));
    });
    worker.on('error', (e: Error) => {
      lastError = e.message;
    });
    worker.once('exit', (code) => {
      if (this.#worker !== worker) return; // closed or replaced
      this.#worker = undefined;
      const reason = `the inference worker thread exited (code ${code}${lastError ? `: ${lastError}` : ''})`;
      this.#failAll(reason);
      this.#crashed(reason);
    });
  }

  #crashed(reason: string): void {
    const now = Date.now();
    const window = this.#opts.restartWindowMs ?? 60_000;
    this.#crashes = [...this.#crashes.filter((t) => now - t < window), now];
    this.#opts.onAvailability?.(false, reason);
    if (this.#crashes.length > (this.#opts.maxRestarts ?? 3)) {
      this.#failure = `${reason}; it crashed ${this.#crashes.length} times within ${window / 1000} s and is not restarted again`;
      this.#opts.log?.('error', 'inference worker given up', { reason: this.#failure });
      this.#opts.onAvailability?.(false, this.#failure);
      return;
    }
    this.#opts.log?.('warn', 'inference worker crashed; restarting', { reason });
    this.#restarting = spawn(this.#init).then(
      ({ worker, backend, execution }) => {
        this.#restarting = undefined;
        if (this.#closed) {
          void worker.terminate();
          return;
        }
        this.#backend = backend;
        this.#execution = execution;
        this.#attach(worker);
        this.#opts.log?.('info', 'inference worker restarted', { backend });
        this.#opts.onAvailability?.(true);
      },
      (e: unknown) => {
        this.#restarting = undefined;
        this.#failure = `the inference worker could not be restarted: ${(e as Error).message}`;
        this.#opts.log?.('error', 'inference worker given up', { reason: this.#failure });
        this.#opts.onAvailability?.(false, this.#failure);
      },
    );
  }
}
