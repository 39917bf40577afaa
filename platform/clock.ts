/**
 * Time, passed in: code that waits or reads the clock takes a {@link Clock}
 * so tests can replace it (CONTRIBUTING.md: side effects are passed in).
 */
export interface Clock {
  sleep: (ms: number) => Promise<void>;
  /** Milliseconds, as Date.now(). */
  now: () => number;
}

/** Wait `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The real clock. */
export const realClock: Clock = { sleep, now: () => Date.now() };
