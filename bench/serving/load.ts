/**
 * One load run, in its own process so that the load generator does not share
 * an event loop with the bench (which samples /healthz meanwhile): autocannon
 * posts the image to /predict with N connections for D seconds, and this
 * prints one JSON line: requests, errors, non-2xx and p50/p95/p99 latency in
 * ms from every response time (autocannon's summary has no p95).
 *
 *   npx tsx bench/serving/load.ts --url http://127.0.0.1:8080 --body img.png --clients 64 --duration 8
 */
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import { command, runIfMain } from '../../platform/index.ts';

export interface LoadResult {
  requests: number;
  errors: number;
  non2xx: number;
  p50: number;
  p95: number;
  p99: number;
}

function pct(sorted: number[], p: number): number {
  return Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(2));
}

/** Drive POST /predict (raw image/png) and collect every response time. */
export async function load(
  url: string,
  body: Buffer,
  clients: number,
  duration: number,
): Promise<LoadResult> {
  const times: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/predict`,
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body,
        connections: clients,
        duration,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      times.push(responseTime);
    });
  });
  times.sort((a, b) => a - b);
  return {
    requests: result.requests.total,
    errors: result.errors,
    non2xx: result.non2xx,
    p50: pct(times, 0.5),
    p95: pct(times, 0.95),
    p99: pct(times, 0.99),
  };
}

/** What the bench accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npx tsx bench/serving/load.ts',
  summary: `One load run of bench:serving, in its own process: autocannon posts the image
(raw image/png) to <base url>/predict with --clients connections for --duration
seconds.`,
  required: ['url', 'body'],
  options: {
    url: { type: 'string', value: '<base url>', help: "the server's base URL, e.g. http://127.0.0.1:8080" },
    body: { type: 'string', value: '<png file>', help: 'the image to post' },
    clients: { type: 'string', value: '<n>', default: '1', help: 'concurrent connections' },
    duration: { type: 'string', value: '<s>', default: '8', help: 'seconds of load' },
  },
  notes: `It prints one JSON line: requests, errors, non2xx, and p50, p95, p99 latency in
ms from every response time.`,
} as const;

await runIfMain(
  import.meta.url,
  command(COMMAND, async ({ values }) => {
    // parseCommand refused a run without --url or --body.
    const r = await load(
      values.url!,
      await readFile(values.body!),
      Number(values.clients),
      Number(values.duration),
    );
    console.log(JSON.stringify(r));
    return 0;
  }),
);
