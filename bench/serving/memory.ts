/**
 * Memory of one serving process across repeated load runs (issue: RSS flat
 * under load, no growth beyond noise). Starts serving/main.ts once, as the
 * image runs it, on a bench model (bench/models.ts), then runs `--runs` load
 * runs of `--duration` seconds each (bench/serving/load.ts: autocannon posting
 * a PNG to /predict), sampling the process's RSS (/proc/<pid>/status VmRSS)
 * every 100 ms. Prints one row per run (peak and after-run RSS, img/s, p99)
 * and the drift: last run's figures against the first's. The server runs with
 * the image's process settings (serving/process-env.ts): MALLOC_ARENA_MAX=2
 * (`--malloc-arena-max default` for glibc's own: RSS then creeps up run after
 * run) and V8's young generation at 4 MiB a semi-space (`--node-options none`
 * for V8's own: 50-90 MiB more).
 *
 *   npx tsx bench/serving/memory.ts [--runs 10] [--duration 10] [--clients 16] [--model cifar10]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkChoice, parseCommand, runIfMain, sleep, usageOf } from '../../platform/index.ts';
import { SERVER_PROCESS_ENV } from '../../serving/process-env.ts';
import { shapePng } from '../../testing/serving/fixture.ts';
import {
  BENCH_MODELS,
  type BenchModel,
  defaultArtifactDir,
  ensureBenchArtifact,
  inputSizeOf,
  servingEnvOf,
} from '../models.ts';
import { load, startServer } from './index.ts';

const COMMAND = {
  run: 'npx tsx bench/serving/memory.ts',
  summary: `Memory of one serving process across repeated load runs: serving/main.ts started once on a
bench model, then --runs load runs of --duration seconds (autocannon, /predict with a PNG),
RSS sampled every 100 ms. Prints a markdown table, one row per run, and the growth from the
first run to the last.`,
  options: {
    runs: { type: 'string', value: '<n>', default: '10', help: 'load runs against the one process' },
    duration: { type: 'string', value: '<s>', default: '10', help: 'seconds of load per run' },
    clients: { type: 'string', value: '<n>', default: '16', help: 'concurrent connections' },
    model: {
      type: 'string',
      value: '<cifar10|demo>',
      default: 'cifar10',
      help: 'the bench model served (bench/models.ts)',
    },
    'malloc-arena-max': {
      type: 'string',
      value: '<n|default>',
      default: SERVER_PROCESS_ENV.MALLOC_ARENA_MAX,
      help: "glibc's MALLOC_ARENA_MAX for the server: the image's (serving/process-env.ts), default for glibc's own",
    },
    'node-options': {
      type: 'string',
      value: '<flags|none>',
      default: SERVER_PROCESS_ENV.NODE_OPTIONS,
      help: "the server's NODE_OPTIONS: the image's V8 flags (serving/process-env.ts), none for V8's own",
    },
  },
} as const;

/** VmRSS of a process in MiB, from /proc (Linux). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

async function main(): Promise<void> {
  const cli = parseCommand(process.argv.slice(2), COMMAND);
  if (!cli) return;
  const model = cli.values.model;
  checkChoice('model', model, { values: BENCH_MODELS }, usageOf(COMMAND));
  const runs = Number(cli.values.runs);
  const duration = Number(cli.values.duration);
  const clients = Number(cli.values.clients);
  const artifact = defaultArtifactDir(model as BenchModel);
  await ensureBenchArtifact(model as BenchModel, artifact);
  const dir = await mkdtemp(join(tmpdir(), 'bench-memory-'));
  const arenas = cli.values['malloc-arena-max'];
  const nodeOptions = cli.values['node-options'];
  const server = await startServer({
    ...(await servingEnvOf(artifact)),
    SERVING_QUEUE_CAPACITY: '1024',
    ...(arenas === 'default' ? {} : { MALLOC_ARENA_MAX: arenas }),
    ...(nodeOptions === 'none' ? {} : { NODE_OPTIONS: nodeOptions }),
  });
  try {
    const body = join(dir, 'image.png');
    await writeFile(body, shapePng('circle', (await inputSizeOf(artifact)).width));
    const rows: { run: number; peak: number; after: number; rps: number; p99: number; errors: number }[] = [];
    const start = await rssMiB(server.pid);
    console.log(
      `model ${model}, ${clients} clients, ${runs} runs of ${duration} s, MALLOC_ARENA_MAX ${arenas}, NODE_OPTIONS ${nodeOptions}; RSS once ready ${start.toFixed(0)} MiB`,
    );
    for (let run = 1; run <= runs; run++) {
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await rssMiB(server.pid));
          await sleep(100);
        }
      })();
      const r = await load(server.url, body, clients, duration);
      sampling = false;
      await sampler;
      await sleep(1_000);
      const after = await rssMiB(server.pid);
      rows.push({ run, peak, after, rps: r.requests / duration, p99: r.p99, errors: r.errors + r.non2xx });
      console.log(
        `run ${run}: peak ${peak.toFixed(0)} MiB, after ${after.toFixed(0)} MiB, ${(r.requests / duration).toFixed(0)} img/s, p99 ${r.p99} ms`,
      );
    }
    const first = rows[0]!;
    const last = rows.at(-1)!;
    const peaks = rows.map((r) => r.peak);
    console.log(
      [
        '',
        '| run | RSS peak (MiB) | RSS after (MiB) | img/s | p99 (ms) | errors |',
        '| ---: | ---: | ---: | ---: | ---: | ---: |',
        ...rows.map(
          (r) =>
            `| ${r.run} | ${r.peak.toFixed(0)} | ${r.after.toFixed(0)} | ${r.rps.toFixed(0)} | ${r.p99} | ${r.errors} |`,
        ),
        '',
        `peak RSS: first run ${first.peak.toFixed(0)}, last ${last.peak.toFixed(0)} MiB (${(last.peak - first.peak).toFixed(0)} MiB), range over runs ${Math.min(...peaks).toFixed(0)}–${Math.max(...peaks).toFixed(0)} MiB`,
        `RSS after a run: first ${first.after.toFixed(0)}, last ${last.after.toFixed(0)} MiB (${(last.after - first.after).toFixed(0)} MiB)`,
      ].join('\n'),
    );
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, async () => {
  await main();
  return 0;
});
