/**
 * Start-up of the serving process: time from spawn to `/readyz` 200, RSS once
 * ready, and which heavy packages its start-up imports, for one or more
 * checkouts side by side (e.g. before and after a change):
 *
 *   npx tsx bench/serving/startup.ts [--runs 5] [--checkout <dir>]...
 *
 * Each run spawns `node <repo>/serving/main.ts` (Node's own type stripping, as
 * the image runs it) or `node <repo>/node_modules/.bin/tsx <repo>/serving/main.ts`,
 * with the same fixture artifact and SERVING_BACKEND=cpu. The heavy packages
 * column is the static start-up import closure of serving/main.ts in that
 * checkout (testing/import-graph.ts, as tools/policy/layers.test.ts checks it).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkChoice, parseCommand, runIfMain, sleep, usageOf } from '../../platform/index.ts';
import { runtimeClosure } from '../../testing/import-graph.ts';
import { writeFixtureArtifact } from '../../testing/serving/fixture.ts';

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
before and after a change): time from spawn to /readyz 200 and RSS once ready
(medians, with the same fixture artifact and SERVING_BACKEND=cpu), and which
heavy packages the start-up imports of serving/main.ts load. Prints a markdown
table, one row per checkout.`,
  options: {
    runs: { type: 'string', value: '<n>', default: '5', help: 'server starts per checkout' },
    checkout: {
      type: 'string',
      value: '<dir>',
      multiple: true,
      help: 'a checkout to time (default: this checkout)',
    },
    runner: {
      type: 'string',
      value: '<node,tsx>',
      default: 'node,tsx',
      help: "how the server is run: node (Node 24's own type stripping, as the image runs it),\ntsx (the TypeScript loader), or both side by side",
    },
  },
  notes: "environment: DEBUG_STARTUP (any value) shows the servers' output.",
} as const;

interface Run {
  readyMs: number;
  rssMiB: number;
}

const RUNNERS = ['node', 'tsx'];

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
      SERVING_BACKEND: 'cpu',
    },
    stdio: process.env.DEBUG_STARTUP ? 'inherit' : 'ignore',
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
    return { readyMs, rssMiB: rss / 2 ** 20 };
  } finally {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const cli = parseCommand(process.argv.slice(2), COMMAND);
  if (!cli) return;
  const repos = (cli.values.checkout ?? [ROOT]).map((r) => resolve(r));
  const runs = Number(cli.values.runs);
  const runners = cli.values.runner.split(',');
  for (const r of runners) checkChoice('runner', r, { values: RUNNERS }, usageOf(COMMAND));
  const dir = await mkdtemp(join(tmpdir(), 'startup-fixture-'));
  try {
    const fixture = await writeFixtureArtifact(dir);
    const rows: string[] = [
      '| checkout | runner | ready (median ms, spread) | RSS (median MiB) | heavy packages loaded |',
      '| --- | --- | ---: | ---: | --- |',
    ];
    let port = 18_700;
    for (const repo of repos) {
      const closure = runtimeClosure(repo, 'serving/main.ts');
      const loaded = HEAVY.filter((h) => closure.has(h));
      for (const runner of runners) {
        const results: Run[] = [];
        for (let i = 0; i < runs; i++) results.push(await once(repo, runner, fixture.env, port++));
        const ready = results.map((r) => r.readyMs);
        rows.push(
          `| ${repo} | ${runner} | ${median(ready).toFixed(0)} (${Math.min(...ready).toFixed(0)}–${Math.max(...ready).toFixed(0)}) | ${median(results.map((r) => r.rssMiB)).toFixed(0)} | ${loaded.join(', ') || 'none'} |`,
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
