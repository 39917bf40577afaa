/**
 * Serving throughput and latency (`npm run bench:serving`; not a test).
 *
 * For each available backend (wasm, cpu) and batching mode (micro-batching
 * on: maxBatchSize 32 / maxWaitMs 5; off: maxBatchSize 1), serving/main.ts
 * runs as its own process on loopback with a CNN fixture artifact (32x32x3
 * input, two conv blocks), and autocannon posts a PNG to /predict with 1, 16
 * and 64 connections. Prints a table and writes JSON + markdown to
 * bench/results/. Also samples /healthz latency under 64-client load, to show
 * whether inference blocks the event loop.
 *
 * Flags: --duration <s> (default 8), --backends wasm,cpu, --clients 1,16,64.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { isMain, parseFlags, runMain, stableStringify } from '../../lib/index.ts';
import { drawShape, writeFixtureArtifact } from '../../serving/testing/fixture.ts';
import { encodePng } from '../../training/preprocessing.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const USAGE = 'usage: npm run bench:serving -- [--duration 8] [--backends wasm,cpu] [--clients 1,16,64]';

interface Row {
  backend: string;
  batching: 'on' | 'off';
  maxBatchSize: number;
  clients: number;
  requests: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  non2xx: number;
  healthzP99?: number;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

async function startServer(env: Record<string, string>): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'serving/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...env,
      SERVING_HOST: '127.0.0.1',
      SERVING_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('"msg":"ready"')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${buf}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.on('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** p99 of /healthz latency while the load runs, sampled every 50 ms. */
async function sampleHealthz(url: string, untilMs: number): Promise<number> {
  const times: number[] = [];
  while (performance.now() < untilMs) {
    const t = performance.now();
    await fetch(`${url}/healthz`).then((r) => r.arrayBuffer());
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 50));
  }
  times.sort((a, b) => a - b);
  return Number((times[Math.floor(times.length * 0.99)] ?? times.at(-1) ?? 0).toFixed(1));
}

const pct = (sorted: number[], p: number) =>
  Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(2));

/** autocannon on /predict; percentiles from every response time (autocannon's summary has no p95). */
async function load(url: string, body: Buffer, clients: number, duration: number) {
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
  return { result, p50: pct(times, 0.5), p95: pct(times, 0.95), p99: pct(times, 0.99) };
}

export async function bench(opts: {
  duration: number;
  backends: string[];
  clients: number[];
}): Promise<Row[]> {
  const root = await mkdtemp(join(tmpdir(), 'bench-serving-'));
  const rows: Row[] = [];
  try {
    const fixture = await writeFixtureArtifact(root, { size: 32, channels: 3, filters: [16, 32] });
    const gray = drawShape('circle', 32);
    const rgb = new Uint8Array(32 * 32 * 3).map((_, i) => gray[Math.floor(i / 3)]!);
    const body = Buffer.from(encodePng({ width: 32, height: 32, channels: 3, data: rgb }));
    for (const backend of opts.backends) {
      for (const [batching, maxBatchSize] of [
        ['on', 32],
        ['off', 1],
      ] as const) {
        const server = await startServer({
          ...fixture.env,
          SERVING_BACKEND: backend,
          SERVING_MAX_BATCH_SIZE: String(maxBatchSize),
          SERVING_MAX_WAIT_MS: '5',
          SERVING_QUEUE_CAPACITY: '1024',
        });
        try {
          await load(server.url, body, 16, 2); // warm-up
          for (const clients of opts.clients) {
            const until = performance.now() + opts.duration * 1000;
            const [{ result: r, p50, p95, p99 }, healthzP99] = await Promise.all([
              load(server.url, body, clients, opts.duration),
              clients === Math.max(...opts.clients)
                ? sampleHealthz(server.url, until - 200)
                : Promise.resolve(undefined),
            ]);
            const row: Row = {
              backend,
              batching,
              maxBatchSize,
              clients,
              requests: r.requests.total,
              rps: Number((r.requests.total / opts.duration).toFixed(0)),
              p50,
              p95,
              p99,
              errors: r.errors,
              non2xx: r.non2xx,
              ...(healthzP99 !== undefined ? { healthzP99 } : {}),
            };
            rows.push(row);
            console.log(
              `${backend.padEnd(5)} batching ${batching.padEnd(3)} clients ${String(clients).padStart(2)}: ` +
                `${String(row.rps).padStart(5)} req/s  p50 ${row.p50} ms  p95 ${row.p95} ms  p99 ${row.p99} ms` +
                (row.non2xx || row.errors ? `  (${row.non2xx} non-2xx, ${row.errors} errors)` : '') +
                (healthzP99 !== undefined ? `  /healthz p99 ${healthzP99} ms` : ''),
            );
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

function markdown(rows: Row[], meta: Record<string, unknown>): string {
  const lines = [
    '# Serving benchmark',
    '',
    `${meta.date} · ${meta.cpus} · Node ${meta.node} · ${meta.duration} s per run · POST /predict, 32x32 RGB PNG, CNN fixture 32x32x3`,
    '',
    '| backend | micro-batching | clients | req/s | p50 ms | p95 ms | p99 ms | non-2xx | /healthz p99 ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.backend} | ${r.batching === 'on' ? `on (max ${r.maxBatchSize})` : 'off (max 1)'} | ${r.clients} | ${r.rps} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.non2xx} | ${r.healthzP99 ?? ''} |`,
    ),
    '',
    '## Micro-batching at the highest client count',
    '',
    '| backend | req/s on / off | p99 on / off |',
    '| --- | ---: | ---: |',
  ];
  const top = Math.max(...rows.map((r) => r.clients));
  for (const backend of [...new Set(rows.map((r) => r.backend))]) {
    const on = rows.find((r) => r.backend === backend && r.batching === 'on' && r.clients === top);
    const off = rows.find((r) => r.backend === backend && r.batching === 'off' && r.clients === top);
    if (on && off) {
      lines.push(`| ${backend} | ${(on.rps / off.rps).toFixed(2)}x | ${(on.p99 / off.p99).toFixed(2)}x |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

if (isMain(import.meta.url)) {
  await runMain(async () => {
    const { values } = parseFlags(
      process.argv.slice(2),
      { duration: { type: 'string' }, backends: { type: 'string' }, clients: { type: 'string' } },
      USAGE,
    );
    const opts = {
      duration: Number(values.duration ?? 8),
      backends: (values.backends ?? 'wasm,cpu').split(','),
      clients: (values.clients ?? '1,16,64').split(',').map(Number),
    };
    const rows = await bench(opts);
    const meta = {
      date: new Date().toISOString(),
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
      node: process.versions.node,
      duration: opts.duration,
    };
    const dir = join(ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'serving.json'), stableStringify({ meta, rows }));
    const md = markdown(rows, meta);
    await writeFile(join(dir, 'serving.md'), md);
    console.log(`\n${md}`);
    console.log(`wrote ${join('bench', 'results', 'serving.json')} and serving.md`);
    return 0;
  });
}
