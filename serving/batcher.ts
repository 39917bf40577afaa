/**
 * Dynamic micro-batching: requests put images in one bounded queue; a batch
 * runs when `maxBatchSize` images wait or `maxWaitMs` after the oldest
 * arrived, whichever comes first, or, when nothing runs (`eager`, the
 * default), at the next turn of the event loop; images that arrive while a batch runs go in
 * the next batch as soon as one ends. `concurrency` batches run at once
 * (default 1: tfjs runs one kernel stream anyway; 2 with a worker thread, so
 * that it always has the next batch) while the next fills, and the batcher
 * yields to the event loop between batches so health checks and scrapes are
 * answered.
 * A request that does not fit in the queue is refused at once (OVERLOADED →
 * 503 with Retry-After) rather than waiting without bound.
 */
import { ProjectError } from '../platform/index.ts';

export interface BatcherOptions<I, O> {
  maxBatchSize: number;
  maxWaitMs: number;
  /** Most images waiting at once. */
  capacity: number;
  /** Run one batch; must return one output per input, in order. */
  run: (items: I[]) => Promise<O[]>;
  /** Called whenever the queue depth changes. */
  onDepth?: (depth: number) => void;
  /**
   * When nothing runs, start a batch at the next turn of the event loop
   * instead of waiting `maxWaitMs` (default true): no added latency at low
   * load; under load, batches gather while one runs.
   */
  eager?: boolean;
  /**
   * Batches run at once (default 1). With inference in a worker thread, 2
   * keeps the worker busy: the next batch is queued there while the main
   * thread answers the previous one.
   */
  concurrency?: number;
  /** Called after each batch with its size and duration in seconds. */
  onBatch?: (size: number, seconds: number) => void;
}

interface Entry<I, O> {
  item: I;
  /** performance.now() when queued. */
  at: number;
  /** Waited through a whole batch already: goes in the next one at once. */
  carried: boolean;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, O> {
  readonly #opts: BatcherOptions<I, O>;
  readonly #concurrency: number;
  #queue: Entry<I, O>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #eagerTurn: NodeJS.Immediate | undefined;
  #yielding = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: BatcherOptions<I, O>) {
    if (opts.maxBatchSize < 1 || opts.capacity < 1 || opts.maxWaitMs < 0 || (opts.concurrency ?? 1) < 1) {
      throw new ProjectError(
        'INVALID',
        'batcher needs maxBatchSize >= 1, capacity >= 1, maxWaitMs >= 0 and concurrency >= 1',
      );
    }
    this.#opts = opts;
    this.#concurrency = opts.concurrency ?? 1;
  }

  /** Images waiting (not yet in a running batch). */
  get depth(): number {
    return this.#queue.length;
  }

  get capacity(): number {
    return this.#opts.capacity;
  }

  /**
   * Queue every item of one request (all or none) and resolve with their
   * outputs in order.
   * @throws ProjectError OVERLOADED when they do not fit; UNAVAILABLE after close().
   */
  submit(items: I[]): Promise<O[]> {
    if (this.#closed) {
      return Promise.reject(new ProjectError('UNAVAILABLE', 'the server is shutting down', { expose: true }));
    }
    if (items.length > this.#opts.capacity - this.#queue.length) {
      return Promise.reject(
        new ProjectError(
          'OVERLOADED',
          `inference queue is full (${this.#queue.length} of ${this.#opts.capacity} images waiting, this request has ${items.length})`,
          { hint: 'retry after a moment', details: { retryAfterSeconds: 1 } },
        ),
      );
    }
    const at = performance.now();
    const promises = items.map(
      (item) =>
        new Promise<O>((resolve, reject) => this.#queue.push({ item, at, carried: false, resolve, reject })),
    );
    this.#opts.onDepth?.(this.#queue.length);
    this.#schedule();
    return Promise.all(promises);
  }

  /** Refuse new work; resolves when queued and running batches are done. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.idle();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.#inFlight === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #schedule(): void {
    while (this.#inFlight < this.#concurrency && this.#queue.length > 0 && !this.#yielding) {
      const oldest = this.#queue[0]!;
      const waited = performance.now() - oldest.at;
      const ready =
        this.#queue.length >= this.#opts.maxBatchSize ||
        this.#opts.maxWaitMs === 0 ||
        oldest.carried ||
        waited >= this.#opts.maxWaitMs;
      if (!ready) {
        if (this.#inFlight === 0 && this.#opts.eager !== false) {
          // Nothing running: start at the next turn of the event loop, so that
          // images that arrive together share the batch but a lone request
          // does not wait maxWaitMs (under load, batches fill while one runs).
          if (!this.#eagerTurn) {
            this.#eagerTurn = setImmediate(() => {
              this.#eagerTurn = undefined;
              for (const e of this.#queue) e.carried = true;
              this.#schedule();
            });
          }
          return;
        }
        if (!this.#timer) {
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#schedule();
          }, this.#opts.maxWaitMs - waited);
        }
        return;
      }
      this.#clearTimer();
      this.#start(this.#queue.splice(0, this.#opts.maxBatchSize));
    }
    if (this.#inFlight === 0 && this.#queue.length === 0) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(batch: Entry<I, O>[]): void {
    this.#inFlight++;
    this.#opts.onDepth?.(this.#queue.length);
    const started = performance.now();
    const settle = (out: O[] | undefined, err?: unknown) => {
      if (out && out.length !== batch.length)
        err = new Error(`batch of ${batch.length} gave ${out.length} outputs`);
      if (err === undefined && out) for (const [i, e] of batch.entries()) e.resolve(out[i]!);
      else for (const e of batch) e.reject(err);
      this.#opts.onBatch?.(batch.length, (performance.now() - started) / 1000);
      this.#inFlight--;
      // Images that arrived during this batch have waited for it: they go next,
      // without waiting maxWaitMs again.
      for (const e of this.#queue) e.carried = true;
      // Let health checks, scrapes and new arrivals run before the next batch
      // (an in-process backend computes synchronously inside run()).
      this.#yielding = true;
      setImmediate(() => {
        this.#yielding = false;
        this.#schedule();
      });
    };
    let pending: Promise<O[]>;
    try {
      pending = this.#opts.run(batch.map((e) => e.item));
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      (out) => settle(out),
      (e: unknown) => settle(undefined, e ?? new Error('batch failed')),
    );
  }
}
