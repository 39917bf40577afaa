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
import type { BackendChoice, BackendName } from '../../model/backend.ts';
import { ProjectError } from '../../platform/errors.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

const THREAD_URL = new URL('./thread.ts', import.meta.url);

export interface InferenceWorkerOptions {
  parts: ModelParts;
  /**
   * The thread to build the model in, started earlier by {@link InferenceWorker.launch}
   * (its backend loads while the model is fetched). Default: one started now.
   */
  thread?: LaunchedThread;
  /** The backend a thread started now loads (default: the fastest of the serving order). */
  backend?: BackendName;
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

/** The error of a thread that answered `init-error` (or something else) instead of `expected`. */
function initFailure(m: FromWorker, expected: string, subject: string): ProjectError {
  const message = m.type === 'init-error' ? m.message : `unexpected message ${m.type} instead of ${expected}`;
  const code = m.type === 'init-error' && m.code === 'INVALID' ? 'INVALID' : 'UNAVAILABLE';
  return new ProjectError(code, message, { subject });
}

/**
 * An inference thread that is loading (or has loaded) its tfjs backend and
 * has no model yet: the server starts it before fetching the model, so the
 * two overlap. It keeps the process alive: {@link cancel} one that will not
 * be loaded.
 */
export class LaunchedThread {
  /** The backend the thread loaded; rejects when none could be (the thread is then gone). */
  readonly backend: Promise<BackendChoice>;
  readonly #worker: Worker;
  #used = false;
  #exited: string | undefined;

  constructor(init: WorkerInit) {
    const worker = new Worker(THREAD_URL, { workerData: init });
    this.#worker = worker;
    // An 'error' event with no listener would throw in the main thread; #next reports it.
    worker.on('error', () => {});
    worker.once('exit', (code) => {
      this.#exited = `inference worker thread exited with code ${code} while starting`;
    });
    this.backend = this.#next('backend', 'the tfjs backend').then((m) => {
      if (m.type !== 'backend') throw initFailure(m, 'backend', 'the tfjs backend');
      return m.choice;
    });
    // The caller awaits it when it needs it; an early failure is not an unhandled rejection meanwhile.
    this.backend.catch(() => {});
  }

  /**
   * Build the model in the thread and warm it up. Resolves with the thread
   * once it is ready; rejects (terminating it) when the model cannot be built.
   */
  async load(
    parts: ModelParts,
    execution: ModelExecution['kind'],
  ): Promise<{ worker: Worker; execution: ModelExecution }> {
    if (this.#used) throw new Error('this inference thread was loaded or cancelled already');
    this.#used = true;
    try {
      await this.backend;
      if (this.#exited) throw new ProjectError('UNAVAILABLE', this.#exited, { subject: 'model.json' });
      const ready = this.#next('ready', 'model.json');
      this.#worker.postMessage({ type: 'load', parts, execution } satisfies ToWorker);
      const m = await ready;
      if (m.type !== 'ready') throw initFailure(m, 'ready', 'model.json');
      return { worker: this.#worker, execution: m.execution };
    } catch (e) {
      await this.#worker.terminate();
      throw e;
    }
  }

  /** Stop a thread that will not be used (start-up failed elsewhere). */
  async cancel(): Promise<void> {
    this.#used = true;
    await this.#worker.terminate();
  }

  /** The thread's next message; rejects when it exits or errs first. */
  #next(expected: string, subject: string): Promise<FromWorker> {
    const worker = this.#worker;
    return new Promise((resolve, reject) => {
      const done = () => {
        worker.off('exit', onExit);
        worker.off('error', onError);
        worker.off('message', onMessage);
      };
      const onExit = (code: number) => {
        done();
        reject(
          new ProjectError(
            'UNAVAILABLE',
            `inference worker thread exited with code ${code} while starting (waiting for ${expected})`,
            { subject },
          ),
        );
      };
      const onError = (e: Error) => {
        done();
        reject(e);
      };
      const onMessage = (m: FromWorker) => {
        done();
        resolve(m);
      };
      worker.once('exit', onExit);
      worker.once('error', onError);
      worker.once('message', onMessage);
    });
  }
}

/** Start a thread, build the model there and resolve once it is warm. */
async function spawn(
  thread: LaunchedThread,
  parts: ModelParts,
  execution: ModelExecution['kind'],
): Promise<{ worker: Worker; backend: BackendChoice; execution: ModelExecution }> {
  let backend: BackendChoice;
  try {
    backend = await thread.backend;
  } catch (e) {
    await thread.cancel();
    throw e;
  }
  return { ...(await thread.load(parts, execution)), backend };
}

/** Inference in a worker thread; see the module comment. */
export class InferenceWorker {
  readonly #init: WorkerInit;
  readonly #opts: InferenceWorkerOptions;
  #worker: Worker | undefined;
  #backend: BackendChoice;
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
    backend: BackendChoice,
    execution: ModelExecution,
  ) {
    this.#opts = opts;
    // A restarted thread loads the backend the first one did.
    this.#init = { force: backend.id };
    this.#backend = backend;
    this.#execution = execution;
    this.#attach(worker);
  }

  /**
   * Start the thread and build the model there.
   * @throws ProjectError INVALID when the model cannot be built (named in the message).
   */
  static async start(opts: InferenceWorkerOptions): Promise<InferenceWorker> {
    const thread = opts.thread ?? InferenceWorker.launch(opts.backend ? { force: opts.backend } : {});
    const { worker, backend, execution } = await spawn(thread, opts.parts, opts.execution ?? 'graph');
    return new InferenceWorker(opts, worker, backend, execution);
  }

  /**
   * Start a thread that loads its tfjs backend now and builds a model later
   * ({@link InferenceWorkerOptions.thread}): the server calls this first, so
   * the thread starts while the main thread loads its code and the model.
   */
  static launch(init: WorkerInit = {}): LaunchedThread {
    return new LaunchedThread(init);
  }

  /** The tfjs backend the thread runs on (tf.getBackend() there). */
  get backend(): string {
    return this.#backend.name;
  }

  /** Which backend the thread loaded, from which package, and why faster ones were skipped. */
  get backendChoice(): BackendChoice {
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
    this.#restarting = spawn(
      InferenceWorker.launch(this.#init),
      this.#opts.parts,
      this.#opts.execution ?? 'graph',
    ).then(
      ({ worker, backend, execution }) => {
        this.#restarting = undefined;
        if (this.#closed) {
          void worker.terminate();
          return;
        }
        this.#backend = backend;
        this.#execution = execution;
        this.#attach(worker);
        this.#opts.log?.('info', 'inference worker restarted', { backend: backend.name });
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
