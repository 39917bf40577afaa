/**
 * Dynamic micro-batching: requests put images in one bounded queue; a batch
 * runs when `maxBatchSize` images wait or `maxWaitMs` after the oldest
 * arrived, whichever comes first; images that arrive while a batch runs go in
 * the next batch as soon as it ends. One batch runs at a time (tfjs runs one
 * kernel stream anyway) while the next fills, and the loop yields to the
 * event loop between batches so health checks and scrapes are answered.
 * A request that does not fit in the queue is refused at once (OVERLOADED →
 * 503 with Retry-After) rather than waiting without bound.
 */
import { ProjectError } from '../lib/index.ts';

export interface BatcherOptions<I, O> {
  maxBatchSize: number;
  maxWaitMs: number;
  /** Most images waiting at once. */
  capacity: number;
  /** Run one batch; must return one output per input, in order. */
  run: (items: I[]) => Promise<O[]>;
  /** Called whenever the queue depth changes. */
  onDepth?: (depth: number) => void;
  /** Called after each batch with its size and duration in seconds. */
  onBatch?: (size: number, seconds: number) => void;
}

interface Entry<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export class Batcher<I, O> {
  readonly #opts: BatcherOptions<I, O>;
  #queue: Entry<I, O>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: BatcherOptions<I, O>) {
    if (opts.maxBatchSize < 1 || opts.capacity < 1 || opts.maxWaitMs < 0) {
      throw new ProjectError('INVALID', 'batcher needs maxBatchSize >= 1, capacity >= 1 and maxWaitMs >= 0');
    }
    this.#opts = opts;
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
    const promises = items.map(
      (item) => new Promise<O>((resolve, reject) => this.#queue.push({ item, resolve, reject })),
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
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #schedule(): void {
    if (this.#running) return;
    if (this.#queue.length >= this.#opts.maxBatchSize || this.#opts.maxWaitMs === 0) {
      this.#clearTimer();
      void this.#drain();
    } else if (!this.#timer && this.#queue.length > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#drain();
      }, this.#opts.maxWaitMs);
    }
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#opts.maxBatchSize);
        this.#opts.onDepth?.(this.#queue.length);
        const started = performance.now();
        try {
          const out = await this.#opts.run(batch.map((e) => e.item));
          if (out.length !== batch.length)
            throw new Error(`batch of ${batch.length} gave ${out.length} outputs`);
          batch.forEach((e, i) => {
            e.resolve(out[i]!);
          });
        } catch (err) {
          for (const e of batch) e.reject(err);
        }
        this.#opts.onBatch?.(batch.length, (performance.now() - started) / 1000);
        // Let health checks, scrapes and new arrivals run before the next batch.
        // Images that arrived meanwhile have waited at least one batch: run them now.
        await yieldToEventLoop();
      }
    } finally {
      this.#running = false;
      this.#clearTimer();
      if (this.#queue.length > 0) this.#schedule();
      else for (const w of this.#idleWaiters.splice(0)) w();
    }
  }
}
