/**
 * Serving throughput and latency (`npm run bench:serving`; not a test).
 *
 * For each model (bench/models.ts: the demo model of training/configs/demo.json,
 * and a model of training/configs/cifar10.json's size, deep-cnn 32/64/128 on
 * 32x32x3; both trained once into .cache/bench-serving/), each backend
 * (native tensorflow, wasm, pure-JS cpu; those that load), inference thread
 * (worker; --threads worker,main adds the main thread) and batching mode
 * (micro-batching on: maxBatchSize 32 / maxWaitMs 5; off: maxBatchSize 1,
 * the same code path otherwise), serving/main.ts runs as its own process on
 * loopback and autocannon posts a PNG of the model's input size to /predict with 1, 16 and 64
 * connections. Under the highest client count, /healthz is sampled every
 * 50 ms to show whether inference blocks the event loop. First, an
 * in-process profile times decode + preprocessing per image and the model
 * per batch size (bench/serving/profile.ts). Prints tables and writes JSON +
 * markdown to bench/results/.
 *
 * Before all of it, the decoders are compared (bench/serving/decoders.ts:
 * sharp against pngjs/jpeg-js, throughput and event-loop blocking, and the
 * JPEG scan bomb); `--part decoders` runs only that (a minute, no model).
 *
 * Flags: --part all|decoders, --duration <s> (default 8), --models demo,cifar10,
 * --backends tensorflow,wasm,cpu, --clients 1,16,64, --threads worker, --artifact <dir>
 * (with one --models entry).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { versionIdOf } from '../../lock/index.ts';
import { artifactJson, openArtifactDir } from '../../model/artifact/read.ts';
import { type BackendName, selectBackend } from '../../model/backend.ts';
import type { ModelPin } from '../../model/pin.ts';
import {
  command,
  type ParsedCommand,
  ProjectError,
  runIfMain,
  stableStringify,
  usageError,
  usageOf,
} from '../../platform/index.ts';
import { SERVER_PROCESS_ENV } from '../../serving/process-env.ts';
import { freePort } from '../../testing/ports.ts';
import { shapePng } from '../../testing/serving/fixture.ts';
import {
  BENCH_MODELS,
  type BenchModel,
  defaultArtifactDir,
  ensureBenchArtifact,
  inputSizeOf,
} from '../models.ts';
import {
  compareDecoders,
  type DecoderRow,
  decodersMarkdown,
  type ScanBombRow,
  scanBomb,
} from './decoders.ts';
import type { LoadResult } from './load.ts';
import { type ProfileRow, profileInference } from './profile.ts';

const ROOT = join(import.meta.dirname, '..', '..');
interface Row {
  model: BenchModel;
  backend: string;
  thread: 'worker' | 'main';
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
  healthzP50?: number;
  healthzP99?: number;
}

/** The pin of an artifact folder, from its digests.json, every file checked (model/artifact). */
async function pinOf(dir: string): Promise<ModelPin> {
  const artifact = await openArtifactDir(dir);
  const training = artifactJson(artifact, 'training.json') as { name?: string };
  return {
    name: training.name ?? 'demo-classifier',
    version: versionIdOf(artifact.sha256),
    uri: dir,
    digests: artifact.digests,
    sha256: artifact.sha256,
  };
}

export async function startServer(
  env: Record<string, string>,
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  // As the image runs it: Node's own type stripping, no loader.
  const proc = spawn(process.execPath, [join(ROOT, 'serving/main.ts')], {
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
    pid: proc.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.on('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/**
 * p50 and p99 of /healthz latency while the load runs, sampled every 50 ms
 * from `fromMs` (the load process has started) to `untilMs`.
 */
async function sampleHealthz(
  url: string,
  fromMs: number,
  untilMs: number,
): Promise<{ p50: number; p99: number }> {
  await new Promise((r) => setTimeout(r, Math.max(0, fromMs - performance.now())));
  const times: number[] = [];
  while (performance.now() < untilMs) {
    const t = performance.now();
    await fetch(`${url}/healthz`).then((r) => r.arrayBuffer());
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 50));
  }
  times.sort((a, b) => a - b);
  return { p50: pct(times, 0.5), p99: pct(times, 0.99) };
}

function pct(sorted: number[], p: number): number {
  return Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(2));
}

/** One load run in its own process (bench/serving/load.ts), so the bench's event loop stays free. */
export async function load(
  url: string,
  bodyFile: string,
  clients: number,
  duration: number,
): Promise<LoadResult> {
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules/.bin/tsx'),
      join(ROOT, 'bench/serving/load.ts'),
      '--url',
      url,
      '--body',
      bodyFile,
      '--clients',
      String(clients),
      '--duration',
      String(duration),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((r) => proc.on('exit', r));
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) {
    throw new ProjectError(
      'UNAVAILABLE',
      `load generator bench/serving/load.ts failed (exit ${code}): ${out}`,
    );
  }
  return JSON.parse(line) as LoadResult;
}

export interface BenchOptions {
  duration: number;
  backends: BackendName[];
  clients: number[];
  threads: ('worker' | 'main')[];
  models: { kind: BenchModel; artifact: string }[];
}

export async function bench(
  opts: BenchOptions,
): Promise<{ rows: Row[]; profile: (ProfileRow & { model: BenchModel })[] }> {
  const rows: Row[] = [];
  const profile: (ProfileRow & { model: BenchModel })[] = [];
  for (const m of opts.models) {
    await ensureBenchArtifact(m.kind, m.artifact);
    const r = await benchModel(m.kind, m.artifact, opts);
    rows.push(...r.rows);
    profile.push(...r.profile.map((p) => ({ ...p, model: m.kind })));
  }
  return { rows, profile };
}

/** One model: the in-process profile, then the server at each backend, thread and batching mode. */
async function benchModel(
  kind: BenchModel,
  artifact: string,
  opts: BenchOptions,
): Promise<{ rows: Row[]; profile: ProfileRow[] }> {
  const pin = await pinOf(artifact);
  const { width } = await inputSizeOf(artifact);
  const png = shapePng('circle', width);
  const tmp = await mkdtemp(join(tmpdir(), 'bench-serving-'));
  const body = join(tmp, `circle-${width}.png`);
  await writeFile(body, png);
  console.log(`\n${kind} model (${pin.name}, ${width}x${width} input)`);
  console.log('profile: decode + preprocess per image, model per batch (in-process, median)');
  const profile = await profileInference(pin, png, opts.backends);
  for (const p of profile)
    console.log(`  ${p.backend}: decode ${p.decodeUs} us, batch ms ${JSON.stringify(p.batchMs)}`);
  const rows: Row[] = [];
  for (const backend of opts.backends) {
    for (const thread of opts.threads) {
      for (const [batching, maxBatchSize] of [
        ['on', 32],
        ['off', 1],
      ] as const) {
        const setup = { model: kind, backend, thread, batching, maxBatchSize };
        rows.push(...(await benchServer(setup, pin, body, opts)));
      }
    }
  }
  await rm(tmp, { recursive: true, force: true });
  return { rows, profile };
}

/** What one server run is set up with. */
type ServerSetup = Pick<Row, 'model' | 'backend' | 'thread' | 'batching' | 'maxBatchSize'>;

/**
 * serving/main.ts with that setup, warmed up, loaded at each client count
 * (with /healthz sampled under the highest); a row per client count.
 */
async function benchServer(
  setup: ServerSetup,
  pin: ModelPin,
  body: string,
  opts: BenchOptions,
): Promise<Row[]> {
  const server = await startServer({
    ...SERVER_PROCESS_ENV,
    SERVING_MODEL_NAME: pin.name,
    SERVING_MODEL_VERSION: pin.version,
    SERVING_MODEL_URI: pin.uri,
    SERVING_MODEL_DIGESTS: JSON.stringify(pin.digests),
    SERVING_MODEL_SHA256: pin.sha256,
    SERVING_BACKEND: setup.backend,
    SERVING_INFERENCE_THREAD: setup.thread,
    SERVING_MAX_BATCH_SIZE: String(setup.maxBatchSize),
    SERVING_MAX_WAIT_MS: '5',
    SERVING_QUEUE_CAPACITY: '1024',
  });
  const rows: Row[] = [];
  const top = Math.max(...opts.clients);
  try {
    await load(server.url, body, 16, 2); // warm-up
    for (const clients of opts.clients) {
      const until = performance.now() + opts.duration * 1000;
      const [r, healthz] = await Promise.all([
        load(server.url, body, clients, opts.duration),
        clients === top
          ? sampleHealthz(server.url, until - opts.duration * 1000 + 2000, until + 500)
          : Promise.resolve(undefined),
      ]);
      const row: Row = {
        ...setup,
        clients,
        requests: r.requests,
        rps: Number((r.requests / opts.duration).toFixed(0)),
        p50: r.p50,
        p95: r.p95,
        p99: r.p99,
        errors: r.errors,
        non2xx: r.non2xx,
        ...(healthz ? { healthzP50: healthz.p50, healthzP99: healthz.p99 } : {}),
      };
      rows.push(row);
      console.log(
        `${row.model.padEnd(7)} ${row.backend.padEnd(10)} ${row.thread.padEnd(6)} batching ${row.batching.padEnd(3)} clients ${String(clients).padStart(2)}: ` +
          `${String(row.rps).padStart(5)} req/s  p50 ${row.p50} ms  p95 ${row.p95} ms  p99 ${row.p99} ms` +
          (row.non2xx || row.errors ? `  (${row.non2xx} non-2xx, ${row.errors} errors)` : '') +
          (healthz ? `  /healthz p50 ${healthz.p50} p99 ${healthz.p99} ms` : ''),
      );
    }
  } finally {
    await server.stop();
  }
  return rows;
}

/** The markdown report: profile, every run, and the on/off ratios the target is about. */
export function markdown(
  rows: Row[],
  profile: (ProfileRow & { model?: BenchModel })[],
  meta: Record<string, unknown>,
): string {
  const sizes = Object.keys(profile[0]?.batchMs ?? {});
  const lines = [
    '# Serving benchmark',
    '',
    `${meta.date} · ${meta.cpus} · Node ${meta.node} · ${meta.duration} s per run · POST /predict (raw image/png), a grayscale PNG of the model's input size · models: ${meta.models} · load generator (autocannon, bench/serving/load.ts) in its own process on the same machine`,
    '',
    '## Where the time goes (in-process, median)',
    '',
    `| model | backend | decode + preprocess per image (us) | ${sizes.map((n) => `model, batch ${n} (ms)`).join(' | ')} | model per image at batch 1 / ${sizes.at(-1)} (us) |`,
    `| --- | --- | ---: | ${sizes.map(() => '---:').join(' | ')} | ---: |`,
    ...profile.map((p) => {
      const one = p.batchMs['1'] ?? 0;
      const last = Number(sizes.at(-1));
      const big = (p.batchMs[String(last)] ?? 0) / last;
      return `| ${p.model ?? ''} | ${p.backend} | ${p.decodeUs} | ${sizes.map((n) => p.batchMs[n]).join(' | ')} | ${(one * 1000).toFixed(0)} / ${(big * 1000).toFixed(0)} |`;
    }),
    '',
    '## Load',
    '',
    '| model | backend | inference thread | micro-batching | clients | req/s | p50 ms | p95 ms | p99 ms | non-2xx | /healthz p50 / p99 ms |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.backend} | ${r.thread} | ${r.batching === 'on' ? `on (max ${r.maxBatchSize})` : 'off (max 1)'} | ${r.clients} | ${r.rps} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.non2xx + r.errors} | ${r.healthzP99 !== undefined ? `${r.healthzP50} / ${r.healthzP99}` : ''} |`,
    ),
    '',
    '## Micro-batching at the highest client count (target: req/s >= 2x, p99 <= 2x)',
    '',
    '| model | backend | inference thread | req/s on / off | p99 on / off | target met |',
    '| --- | --- | --- | ---: | ---: | --- |',
  ];
  const top = Math.max(...rows.map((r) => r.clients));
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    for (const backend of [...new Set(rows.map((r) => r.backend))]) {
      for (const thread of [...new Set(rows.map((r) => r.thread))]) {
        const find = (b: 'on' | 'off') =>
          rows.find(
            (r) =>
              r.model === model &&
              r.backend === backend &&
              r.thread === thread &&
              r.batching === b &&
              r.clients === top,
          );
        const on = find('on');
        const off = find('off');
        if (on && off) {
          const speed = on.rps / off.rps;
          const tail = on.p99 / off.p99;
          lines.push(
            `| ${model} | ${backend} | ${thread} | ${speed.toFixed(2)}x | ${tail.toFixed(2)}x | ${speed >= 2 && tail <= 2 ? 'yes' : 'no'} |`,
          );
        }
      }
    }
  }
  lines.push(
    '',
    '## How to read this',
    '',
    '- "off (max 1)" is the same server, inference thread and batcher with `SERVING_MAX_BATCH_SIZE=1`: only the batch size differs.',
    "- The load generator runs in its own process (bench/serving/load.ts); /healthz is sampled every 50 ms by the bench process from 2 s into the highest-client run, so it measures how long the server's event loop takes to answer a probe under that load.",
    '- Server, load generator and anything else running share the same cores: compare rows of one run, not runs taken at different times.',
  );
  return `${lines.join('\n')}\n`;
}

/** What the bench accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run bench:serving --',
  summary: `Serving throughput and latency. First the decoders are compared (sharp against
pngjs / jpeg-js, and the JPEG scan bomb) and an in-process profile times decode,
preprocessing and the model. Then, for each model, backend, inference thread
and batching mode (on: maxBatchSize 32 / maxWaitMs 5; off: 1), serving/main.ts
runs as its own process on loopback and autocannon posts a PNG of the model's
input size to /predict at each client count; /healthz is sampled under the
highest. Prints tables and writes bench/results/serving.json and .md (and
serving-decoders.json and .md). A benchmark, not a test.`,
  options: {
    part: {
      type: 'string',
      value: '<all|decoders>',
      default: 'all',
      help: 'decoders: only the decoder comparison (a minute, no model)',
    },
    duration: { type: 'string', value: '<s>', default: '8', help: 'seconds of load per run' },
    models: {
      type: 'string',
      value: '<list>',
      default: BENCH_MODELS.join(','),
      help: "the models, comma-separated: the demo model, one of\ntraining/configs/cifar10.json's size (bench/models.ts)",
    },
    backends: {
      type: 'string',
      value: '<list>',
      default: 'tensorflow,wasm,cpu',
      help: 'the backends, comma-separated, of tensorflow-gpu, tensorflow, wasm, cpu\n(those that do not load here are skipped)',
    },
    clients: {
      type: 'string',
      value: '<list>',
      default: '1,16,64',
      help: 'concurrent connections, comma-separated',
    },
    threads: {
      type: 'string',
      value: '<list>',
      default: 'worker',
      help: 'inference threads, comma-separated: worker, main',
    },
    artifact: {
      type: 'string',
      value: '<dir>',
      help: 'the artifact to serve, with one --models entry (default: one trained once\ninto .cache/bench-serving/)',
    },
  },
} as const;

type Flags = ParsedCommand<typeof COMMAND.options>['values'];

await runIfMain(
  import.meta.url,
  command(COMMAND, async ({ values }) => {
    const part = values.part;
    if (part !== 'all' && part !== 'decoders') {
      throw usageError(`--part takes all or decoders, not ${part}`, usageOf(COMMAND));
    }
    const dir = join(ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await benchDecoders(dir);
    if (part === 'decoders') return 0;
    const opts = await benchOptionsOf(values);
    const { rows, profile } = await bench(opts);
    const pins = await Promise.all(
      opts.models.map(async (m) => ({ kind: m.kind, pin: await pinOf(m.artifact) })),
    );
    const meta = {
      date: new Date().toISOString(),
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
      node: process.versions.node,
      duration: opts.duration,
      models: pins.map((p) => `${p.kind} = ${p.pin.name} sha256 ${p.pin.sha256.slice(0, 12)}`).join(', '),
    };
    await writeFile(join(dir, 'serving.json'), stableStringify({ meta, profile, rows }));
    const md = markdown(rows, profile, meta);
    await writeFile(join(dir, 'serving.md'), md);
    console.log(`\n${md}`);
    console.log(`wrote ${join('bench', 'results', 'serving.json')} and serving.md`);
    return 0;
  }),
);

/** The decoders compared (bench/serving/decoders.ts), written to serving-decoders.json and .md in `dir`. */
async function benchDecoders(dir: string): Promise<void> {
  console.log('decoders: sharp against pngjs / jpeg-js (about 3 s per image and decoder)');
  const decoders: DecoderRow[] = await compareDecoders();
  const bomb: ScanBombRow = await scanBomb();
  const decoderMeta = {
    date: new Date().toISOString(),
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    loadAverage: Number(loadavg()[0]!.toFixed(1)),
    node: process.versions.node,
  };
  const decodersMd = `# Serving benchmark: decoders\n\n${decoderMeta.date} · ${decoderMeta.cpus} · load average ${decoderMeta.loadAverage} at the end · Node ${decoderMeta.node}\n\n${decodersMarkdown(decoders, bomb)}`;
  await writeFile(join(dir, 'serving-decoders.json'), stableStringify({ meta: decoderMeta, decoders, bomb }));
  await writeFile(join(dir, 'serving-decoders.md'), decodersMd);
  console.log(`\n${decodersMd}`);
}

/** The model bench's options from the flags (USAGE when one is wrong); only the backends that load here. */
async function benchOptionsOf(values: Flags): Promise<BenchOptions> {
  const models = values.models.split(',') as BenchModel[];
  if (models.some((m) => !BENCH_MODELS.includes(m)) || (values.artifact && models.length !== 1)) {
    throw usageError(
      `--models takes ${BENCH_MODELS.join(',')}; --artifact needs exactly one`,
      usageOf(COMMAND),
    );
  }
  const wanted = values.backends.split(',');
  const threads = values.threads.split(',');
  const known = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
  if (wanted.some((b) => !known.includes(b)) || threads.some((t) => t !== 'worker' && t !== 'main')) {
    throw usageError(`--backends takes ${known.join(',')}; --threads takes worker,main`, usageOf(COMMAND));
  }
  // Only the backends that load here (the native one needs scripts/setup.d/70-tfjs-native.sh).
  const backends: BackendName[] = [];
  for (const b of wanted as BackendName[]) {
    try {
      await selectBackend([b], b);
      backends.push(b);
    } catch (e) {
      console.error(`backend ${b}: not available (${(e as Error).message.split('\n')[0]})`);
    }
  }
  await selectBackend(['cpu'], 'cpu');
  return {
    duration: Number(values.duration),
    backends,
    clients: values.clients.split(',').map(Number),
    threads: threads as ('worker' | 'main')[],
    models: models.map((kind) => ({
      kind,
      artifact: resolve(values.artifact ?? defaultArtifactDir(kind)),
    })),
  };
}
