import { expect, test } from '@jest/globals';
import { Histogram, Registry } from 'prom-client';
import { LOOP_TICK_MS, monitorLoopBusy } from './loop-monitor.ts';

const buckets = [0.01, 0.05, 0.1, 0.25, 1];

async function observations(h: Histogram): Promise<{ count: number; over100ms: number }> {
  const { values } = await h.get();
  const count = values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  const le = values.find((v) => v.metricName?.endsWith('_bucket') && v.labels.le === 0.1)?.value ?? 0;
  return { count, over100ms: count - le };
}

test('a loop held for 200 ms of CPU shows as one busy observation of at least 100 ms', async () => {
  const h = new Histogram({ name: 'busy_test_seconds', help: 'x', buckets, registers: [new Registry()] });
  const stop = monitorLoopBusy(h);
  try {
    await new Promise((r) => setTimeout(r, LOOP_TICK_MS * 5));
    expect((await observations(h)).over100ms).toBe(0);
    // Hold the loop until it has spent 200 ms of CPU (by wall time, a loaded machine may give it less).
    const start = process.threadCpuUsage();
    for (;;) {
      const d = process.threadCpuUsage(start);
      if (d.user + d.system >= 200_000) break;
    }
    await new Promise((r) => setTimeout(r, LOOP_TICK_MS * 3));
    const o = await observations(h);
    expect(o.count).toBeGreaterThan(2);
    expect(o.over100ms).toBe(1);
  } finally {
    stop();
  }
});

test('a loop that only waits (a timer, no CPU) shows no busy observation', async () => {
  const h = new Histogram({ name: 'idle_test_seconds', help: 'x', buckets, registers: [new Registry()] });
  const stop = monitorLoopBusy(h);
  try {
    await new Promise((r) => setTimeout(r, 300));
    expect((await observations(h)).over100ms).toBe(0);
  } finally {
    stop();
  }
});
