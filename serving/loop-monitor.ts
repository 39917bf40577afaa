/**
 * How long the event loop runs without a break, in CPU time of the main
 * thread: a 10 ms interval timer reads `process.threadCpuUsage()` at each
 * tick and observes the CPU time spent since the last tick. A request that
 * holds the loop for 300 ms shows as a 0.3 s observation; a process the OS
 * did not run for 300 ms (a busy node) does not, which is what makes this,
 * unlike the wall-clock event-loop delay, a measure of the server's own
 * code. Exposed as `serving_event_loop_busy_seconds`.
 *
 * @see https://nodejs.org/api/process.html#processthreadcpuusagepreviousvalue
 */
import type { Histogram } from 'prom-client';

export const LOOP_TICK_MS = 10;

/** Start observing into `histogram`; returns the function that stops it. */
export function monitorLoopBusy(histogram: Histogram): () => void {
  let last = process.threadCpuUsage();
  const timer = setInterval(() => {
    const delta = process.threadCpuUsage(last);
    last = process.threadCpuUsage();
    histogram.observe((delta.user + delta.system) / 1e6);
  }, LOOP_TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
