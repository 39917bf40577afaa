/**
 * The decoded-pixel budget of the process: the pixels of every image being
 * decoded and preprocessed right now, across requests. A request reserves
 * the sum of its images' pixels (read from their headers, before any pixel
 * is decoded) and gives it back once its pixels are dropped; a request that
 * would pass the budget is refused with 503 and `Retry-After` rather than
 * queued, so memory stays bounded (a decoded RGB pixel is 3 bytes) and a
 * burst of large images cannot push the pod over its memory limit.
 */
import { ProjectError } from '../platform/errors.ts';

export class PixelBudget {
  #inUse = 0;
  readonly capacity: number;
  readonly #onChange: ((inUse: number) => void) | undefined;

  constructor(capacity: number, onChange?: (inUse: number) => void) {
    this.capacity = capacity;
    this.#onChange = onChange;
  }

  /** Pixels reserved now. */
  get inUse(): number {
    return this.#inUse;
  }

  /**
   * Reserve `pixels`; returns the function that gives them back (idempotent).
   * @throws ProjectError OVERLOADED (503, Retry-After) when the budget would be passed.
   */
  reserve(pixels: number): () => void {
    if (this.#inUse + pixels > this.capacity) {
      throw new ProjectError(
        'OVERLOADED',
        `the server is decoding ${this.#inUse} pixels for other requests; this request's ${pixels} would pass the limit of ${this.capacity} pixels in flight`,
        { hint: 'retry after the Retry-After delay', details: { retryAfterSeconds: 1 } },
      );
    }
    this.#inUse += pixels;
    this.#onChange?.(this.#inUse);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse -= pixels;
      this.#onChange?.(this.#inUse);
    };
  }
}
