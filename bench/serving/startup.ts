/**
 * Start-up of the serving process: time from spawn to `/readyz` 200, where it
 * went (the `startup_ms` of the server's `ready` log line), RSS once ready,
 * and which heavy packages its start-up imports, for one or more checkouts
 * side by side (e.g. before and after a change):
 *
 *   npx tsx bench/serving/startup.ts [--runs 5] [--model cifar10] [--checkout <dir>]...
 *
 * Each run spawns `node <repo>/serving/main.ts` (Node's own type stripping, as
 * the image runs it; `node-cache` with a compile cache filled by one untimed
 * start first, as the image ships one: serving/Dockerfile) or
 * `node <repo>/node_modules/.bin/tsx <repo>/serving/main.ts`, on the same
 * model with the server's default backend. The heavy packages column is the
 * static start-up import closure of the server in that checkout
 * (serving/run.ts, or serving/main.ts before it; testing/import-graph.ts, as
 * tools/policy/layers.test.ts checks it).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { checkChoice, parseCommand, runIfMain, sleep, usageOf } from '../../platform/index.ts';
import { SERVER_PROCESS_ENV } from '../../serving/process-env.ts';
import { runtimeClosure } from '../../testing/import-graph.ts';
import { writeFixtureArtifact } from '../../testing/serving/fixture.ts';
import { BENCH_MODELS, defaultArtifactDir, ensureBenchArtifact, servingEnvOf } from '../models.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HEAVY = [
  '@kubernetes/client-node',
  '@actions/github',
  'kubernetes-models',
  'zx',
  'yaml',
  '@aws-sdk/client-s3',
];

/** What the bench accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npx tsx bench/serving/startup.ts',
  summary: `Start-up of the serving process, for one or more checkouts side by side (e.g.
before and after a change): time from spawn to /readyz 200, where it went (the
server's startup_ms: imports, config, backend, artifact, model), RSS once ready (medians
over the runs, on the same model), and which heavy packages the start-up imports
of the server load. Prints a markdown table, one row per checkout and runner.`,
  options: {
    runs: { type: 'string', value: '<n>', default: '5', help: 'server starts per checkout' },
    model: {
      type: 'string',
      value: '<cifar10|demo|fixture>',
      default: 'cifar10',
      help: "the model served: a bench model (bench/models.ts, trained once into .cache/bench-serving) or\nthe tests' small fixture",
    },
    checkout: {
      type: 'string',
      value: '<dir>',
      multiple: true,
      help: 'a checkout to time (default: this checkout)',
    },
    runner: {
      type: 'string',
      value: '<node,node-cache,tsx>',
      default: 'node,node-cache',
      help: "how the server is run: node (Node 24's own type stripping), node-cache (the same with a\nfilled NODE_COMPILE_CACHE, as the image runs it), tsx (the TypeScript loader); several side by side",
    },
  },
  notes: "environment: DEBUG_STARTUP (any value) shows the servers' output.",
} as const;

interface Run {
  readyMs: number;
  rssMiB: number;
  /** The server's own account (its `ready` line's startup_ms), when it gives one. */
  phases: Record<string, number>;
}

const RUNNERS = ['node', 'node-cache', 'tsx'];
const PHASES = ['imports', 'config', 'backend', 'artifact', 'model'] as const;

async function once(repo: string, runner: string, env: Record<string, string>, port: number): Promise<Run> {
  const started = performance.now();
  const main = join(repo, 'serving/main.ts');
  const args = runner === 'tsx' ? [join(repo, 'node_modules/.bin/tsx'), main] : [main];
  const proc = spawn(process.execPath, args, {
    cwd: repo,
    env: {
      ...process.env,
      ...env,
      SERVING_PORT: String(port),
      SERVING_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', process.env.DEBUG_STARTUP ? 'inherit' : 'ignore'],
  });
  let phases: Record<string, number> = {};
  createInterface({ input: proc.stdout }).on('line', (line) => {
    if (process.env.DEBUG_STARTUP) console.log(line);
    try {
      const o = JSON.parse(line) as { msg?: string; startup_ms?: Record<string, number> };
      if (o.msg === 'ready' && o.startup_ms) phases = o.startup_ms;
    } catch {
      // not a log line
    }
  });
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server in ${repo} exited with ${proc.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await sleep(20);
    }
    const readyMs = performance.now() - started;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN);
    return { readyMs, rssMiB: rss / 2 ** 20, phases };
  } finally {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
  }
}

/** Fill the compile cache as the image build does (serving/compile-cache.ts), or by one untimed start in a checkout without it. */
async function fillCompileCache(repo: string, env: Record<string, string>, port: number): Promise<void> {
  const script = join(repo, 'serving/compile-cache.ts');
  if (!existsSync(script)) {
    await once(repo, 'node', env, port);
    return;
  }
  const proc = spawn(process.execPath, [script], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const code = await new Promise((r) => proc.once('exit', r));
  if (code !== 0) throw new Error(`serving/compile-cache.ts in ${repo} exited with ${code}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const cli = parseCommand(process.argv.slice(2), COMMAND);
  if (!cli) return;
  const repos = (cli.values.checkout ?? [ROOT]).map((r) => resolve(r));
  const runs = Number(cli.values.runs);
  const runners = cli.values.runner.split(',');
  for (const r of runners) checkChoice('runner', r, { values: RUNNERS }, usageOf(COMMAND));
  const model = cli.values.model;
  checkChoice('model', model, { values: [...BENCH_MODELS, 'fixture'] }, usageOf(COMMAND));
  const dir = await mkdtemp(join(tmpdir(), 'startup-fixture-'));
  try {
    let env: Record<string, string>;
    if (model === 'fixture') env = (await writeFixtureArtifact(dir)).env;
    else {
      const artifact = defaultArtifactDir(model as (typeof BENCH_MODELS)[number]);
      await ensureBenchArtifact(model as (typeof BENCH_MODELS)[number], artifact);
      env = await servingEnvOf(artifact);
    }
    // As the image starts the server (serving/Dockerfile): V8's flags also decide whether its compile cache is read.
    env = { ...SERVER_PROCESS_ENV, ...env };
    console.log(
      `model: ${model}; ${runs} starts per row, medians (spread); phases in ms: imports from process start, backend and artifact from boot's start (they overlap), config and model their own (docs/serving.md)`,
    );
    const rows: string[] = [
      `| checkout | runner | ready (ms) | ${PHASES.join(' | ')} | RSS (MiB) | heavy packages loaded |`,
      `| --- | --- | ---: | ${PHASES.map(() => '---:').join(' | ')} | ---: | --- |`,
    ];
    let port = 18_700;
    for (const repo of repos) {
      // serving/main.ts imports the server (serving/run.ts, where it exists) once the inference thread has started.
      const server = existsSync(join(repo, 'serving/run.ts')) ? 'serving/run.ts' : 'serving/main.ts';
      const closure = runtimeClosure(repo, server);
      const loaded = HEAVY.filter((h) => closure.has(h));
      for (const runner of runners) {
        const runEnv = { ...env };
        if (runner === 'node-cache') {
          runEnv.NODE_COMPILE_CACHE = join(dir, `compile-cache-${port}`);
          await fillCompileCache(repo, runEnv, port++);
        }
        const results: Run[] = [];
        for (let i = 0; i < runs; i++) results.push(await once(repo, runner, runEnv, port++));
        const ready = results.map((r) => r.readyMs);
        const phase = (p: string) => {
          const xs = results.map((r) => r.phases[p]).filter((x): x is number => x !== undefined);
          return xs.length ? median(xs).toFixed(0) : '–';
        };
        rows.push(
          `| ${repo} | ${runner} | ${median(ready).toFixed(0)} (${Math.min(...ready).toFixed(0)}–${Math.max(...ready).toFixed(0)}) | ${PHASES.map(phase).join(' | ')} | ${median(results.map((r) => r.rssMiB)).toFixed(0)} | ${loaded.join(', ') || 'none'} |`,
        );
      }
    }
    console.log(rows.join('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, async () => {
  await main();
  return 0;
});
