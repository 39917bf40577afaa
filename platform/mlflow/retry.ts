/**
 * Retry policy for calls to the tracking server: exponential backoff with
 * full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"), on
 * network errors, timeouts, 429 and 5xx. Tests pass short delays.
 */
export interface RetryPolicy {
  /** Retries after the first attempt (0 = try once). */
  maxRetries: number;
  /** Upper bound of the first delay, in ms; doubles each retry. */
  initialDelayMs: number;
  /** Cap on any single delay, in ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 5, initialDelayMs: 500, maxDelayMs: 15_000 };

/**
 * Delay before retry number `retry` (0-based): a uniform random value in
 * [cap/2, cap] with cap = min(maxDelayMs, initialDelayMs * 2^retry). Half of
 * the cap is kept so that a burst of clients still spreads out but never
 * hammers a recovering server with near-zero delays.
 */
export function backoffDelayMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** retry);
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** HTTP statuses worth retrying: rate limiting and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}
