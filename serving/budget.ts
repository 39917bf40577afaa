/**
 * In-flight budgets of the process, across requests: the decoded pixels of
 * every image being decoded and preprocessed right now, and the bytes of
 * every request body being read or held. A request reserves what it needs
 * (pixels read from the image headers before any pixel is decoded; body bytes
 * as they arrive, or at once when Content-Length says) and gives it back when
 * it is done; a request that would pass the budget is refused with 503 and
 * `Retry-After` rather than queued, so memory stays bounded and a burst of
 * large images or of stalled uploads cannot push the pod over its memory limit.
 */
import { ProjectError } from '../platform/errors.ts';

export class InFlightBudget {
  #inUse = 0;
  readonly capacity: number;
  /** What is counted, for the error: "pixels being decoded", "bytes of request bodies". */
  readonly #what: string;
  readonly #onChange: ((inUse: number) => void) | undefined;

  constructor(capacity: number, what: string, onChange?: (inUse: number) => void) {
    this.capacity = capacity;
    this.#what = what;
    this.#onChange = onChange;
  }

  /** Units reserved now. */
  get inUse(): number {
    return this.#inUse;
  }

  /**
   * Reserve `units`; returns the function that gives them back (idempotent).
   * @throws ProjectError OVERLOADED (503, Retry-After) when the budget would be passed.
   */
  reserve(units: number): () => void {
    if (this.#inUse + units > this.capacity) {
      throw new ProjectError(
        'OVERLOADED',
        `the server holds ${this.#inUse} ${this.#what} for other requests; this request's ${units} more would pass the limit of ${this.capacity} in flight`,
        { hint: 'retry after the Retry-After delay', details: { retryAfterSeconds: 1 } },
      );
    }
    this.#inUse += units;
    this.#onChange?.(this.#inUse);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse -= units;
      this.#onChange?.(this.#inUse);
    };
  }
}
