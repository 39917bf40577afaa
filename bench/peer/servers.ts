/**
 * Start the servers of the peer benchmark on loopback ports, each as its own
 * docs start it, and sample the resident memory of a process tree from /proc
 * (VmRSS of the process and every descendant, so a wrapper process cannot
 * hide the real server, and a server's worker processes count).
 *
 * The peers, by the name `--peers` takes:
 *
 * - `fastapi`, `fastapi-2w`: bench/peer/server.py, FastAPI under uvicorn with
 *   1 and 2 worker processes (`uvicorn.run(..., workers=n)`), `POST /predict`;
 * - `kserve`, `kserve-2w`: bench/peer/kserve_server.py, KServe's
 *   `ModelServer().start([model])` with `--workers` 1 and 2, its v1 and v2
 *   routes;
 * - `litserve`: bench/peer/litserve_server.py, `LitServer(api).run(port=...)`
 *   with batching (max_batch_size 32, batch_timeout 5 ms), `POST /predict`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../../platform/index.ts';
import { freePorts } from '../../testing/ports.ts';
import type { Protocol } from './protocols.ts';
import { PEER_VENVS, pythonOf } from './venv.ts';

export interface Running {
  name: string;
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/** What a server is started with: the artifact, and the name and version it serves it under. */
export interface Served {
  artifact: string;
  model: { name: string; version: string };
}

/** How one peer is started and driven. */
interface PeerDef {
  /** The server, as the tables describe it. */
  what: string;
  /** The venv whose Python runs it (bench/peer/venv.ts), and the packages of it the report names with their versions. */
  venv: keyof typeof PEER_VENVS;
  packages: readonly string[];
  /** The routes it is driven on, its documented one first. */
  protocols: readonly Protocol[];
  /** Its readiness route: 200 once the model is loaded. */
  ready: (model: string) => string;
  /** The signal that stops it cleanly (LitServe stops on Ctrl-C, not on SIGTERM). */
  stopSignal: NodeJS.Signals;
  /** The script and its arguments, on `ports.http` (and `ports.grpc` for KServe). */
  args: (root: string, s: Served, ports: { http: number; grpc: number }) => string[];
}

const script = (root: string, file: string) => join(root, 'bench', 'peer', file);

const fastapi = (workers: number): PeerDef => ({
  what: `FastAPI + TensorFlow/Keras under uvicorn, ${workers} worker process${workers > 1 ? 'es' : ''} (bench/peer/server.py)`,
  venv: 'keras',
  packages: ['tensorflow-cpu', 'fastapi', 'uvicorn'],
  protocols: ['predict'],
  ready: () => '/readyz',
  stopSignal: 'SIGTERM',
  args: (root, s, ports) => [
    script(root, 'server.py'),
    ...['--artifact', s.artifact, '--name', s.model.name, '--version', s.model.version],
    ...['--port', String(ports.http), '--workers', String(workers)],
  ],
});

const kserve = (workers: number): PeerDef => ({
  what: `KServe ModelServer, --workers ${workers} (bench/peer/kserve_server.py)`,
  venv: 'servers',
  packages: ['tensorflow-cpu', 'kserve', 'fastapi', 'uvicorn', 'uvloop'],
  protocols: ['v1', 'v2'],
  ready: (model) => `/v2/models/${encodeURIComponent(model)}/ready`,
  stopSignal: 'SIGTERM',
  // Per-request logs off (latency log, uvicorn access log at WARNING), as the FastAPI peer runs uvicorn.
  args: (root, s, ports) => [
    script(root, 'kserve_server.py'),
    ...['--artifact', s.artifact, '--model_name', s.model.name, '--model_version', s.model.version],
    ...['--http_port', String(ports.http), '--grpc_port', String(ports.grpc), '--workers', String(workers)],
    ...['--enable_latency_logging', 'false', '--log_config_file', script(root, 'kserve_log_config.json')],
  ],
});

/** Every peer `--peers` can name, in the order they run. */
export const PEERS = {
  fastapi: fastapi(1),
  'fastapi-2w': fastapi(2),
  kserve: kserve(1),
  'kserve-2w': kserve(2),
  litserve: {
    what: 'LitServe, batching max_batch_size 32 / batch_timeout 5 ms, 1 inference worker (bench/peer/litserve_server.py)',
    venv: 'servers',
    packages: ['tensorflow-cpu', 'litserve', 'fastapi', 'uvicorn', 'uvloop'],
    protocols: ['predict'],
    ready: () => '/health',
    stopSignal: 'SIGINT',
    args: (root, s, ports) => [
      script(root, 'litserve_server.py'),
      ...['--artifact', s.artifact, '--name', s.model.name, '--version', s.model.version],
      ...['--port', String(ports.http)],
    ],
  },
} as const satisfies Record<string, PeerDef>;

export type PeerName = keyof typeof PEERS;
export const PEER_NAMES = Object.keys(PEERS) as PeerName[];

/** The Python of each venv: bench/peer/venv.ts's, or what the flags gave. */
export type Pythons = Record<keyof typeof PEER_VENVS, string>;
export const DEFAULT_PYTHONS: Pythons = {
  keras: pythonOf(PEER_VENVS.keras),
  servers: pythonOf(PEER_VENVS.servers),
};

/** Wait until `url` + `path` answers 200; fails naming the server, with its log, when it exits or 180 s pass. */
async function waitReady(
  name: string,
  proc: ChildProcess,
  url: string,
  path: string,
  log: () => string,
): Promise<void> {
  const until = Date.now() + 180_000;
  while (Date.now() < until) {
    if (proc.exitCode !== null) {
      throw new ProjectError(
        'INVALID',
        `${name} exited with code ${proc.exitCode} before it was ready:\n${log()}`,
      );
    }
    try {
      if ((await fetch(`${url}${path}`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ProjectError('INVALID', `${name}: ${url}${path} did not answer 200 within 180 s:\n${log()}`);
}

/** CPU seconds (user + system) used so far by `pid` and its descendants. */
async function treeCpuSeconds(pid: number): Promise<number> {
  let ticks = 0;
  for (const p of [pid, ...(await descendants(pid))]) {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11] ?? 0) + Number(f[12] ?? 0);
  }
  return ticks / 100; // USER_HZ, 100 on Linux
}

/**
 * Wait until the server's process tree is idle (under 0.2 CPU seconds a
 * second), at most `maxMs`: a server with several worker processes answers
 * its ready route once the first is up, while the others still load
 * TensorFlow and the model; measured then, it would compete with itself.
 */
async function waitIdle(pid: number, maxMs = 120_000): Promise<void> {
  const until = Date.now() + maxMs;
  let last = await treeCpuSeconds(pid);
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await treeCpuSeconds(pid);
    if (now - last < 0.2) return;
    last = now;
  }
}

/** Spawn `command` and wait for `ready`: the running server, stopped with `stopSignal` and then its whole tree. */
async function start(
  name: string,
  command: string,
  args: string[],
  o: { env: Record<string, string>; cwd: string; url: string; ready: string; stopSignal: NodeJS.Signals },
): Promise<Running> {
  const proc = spawn(command, args, {
    cwd: o.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const running = { name, url: o.url, pid: proc.pid!, stop: () => stopTree(proc, exited, o.stopSignal) };
  try {
    await waitReady(name, proc, o.url, o.ready, () => log);
    await waitIdle(proc.pid!);
  } catch (e) {
    await running.stop();
    throw e;
  }
  return running;
}

/** serving/main.ts in its own Node process, run as the image runs it (`node serving/main.ts`: Node's own type stripping, no loader), default backend. */
export async function startKoa(root: string, env: Record<string, string>): Promise<Running> {
  const { http } = await freePorts(['http']);
  return start('koa', process.execPath, [join(root, 'serving', 'main.ts')], {
    env: { ...env, SERVING_HOST: '127.0.0.1', SERVING_PORT: String(http) },
    cwd: root,
    url: `http://127.0.0.1:${http}`,
    ready: '/readyz',
    stopSignal: 'SIGTERM',
  });
}

/** The peer `name` under its venv's Python, serving `s`, once its ready route answers. */
export async function startPeer(name: PeerName, pythons: Pythons, root: string, s: Served): Promise<Running> {
  const def: PeerDef = PEERS[name];
  const ports = await freePorts(['http', 'grpc']);
  return start(name, pythons[def.venv], def.args(root, s, ports), {
    env: { TF_CPP_MIN_LOG_LEVEL: '2' },
    cwd: root,
    url: `http://127.0.0.1:${ports.http}`,
    ready: def.ready(s.model.name),
    stopSignal: def.stopSignal,
  });
}

/**
 * Stop a server and every process under it: `signal` to the server (its own
 * clean shutdown stops its workers), SIGKILL after 15 s; then SIGKILL to any
 * descendant still there (seen before the signal), so that no worker
 * outlives its server and loads the machine during the next run.
 */
async function stopTree(proc: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals): Promise<void> {
  const tree = proc.pid ? await descendants(proc.pid) : [];
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  try {
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
      for (const c of text.trim().split(/\s+/).filter(Boolean)) out.push(Number(c));
    }
  } catch {
    // the process is gone
  }
  return out;
}

/** Every descendant of `pid` (children first). */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const kids = await children(queue.shift()!);
    out.push(...kids);
    queue.push(...kids);
  }
  return out;
}

/** VmRSS of `pid` and all its descendants, in KiB (0 when gone). */
export async function treeRssKiB(pid: number): Promise<number> {
  let total = 0;
  for (const p of [pid, ...(await descendants(pid))]) {
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (m) total += Number(m[1]);
  }
  return total;
}

/** Sample the tree's RSS every `everyMs` until stopped; returns the peak in MiB. */
export function sampleRss(pid: number, everyMs = 200): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await treeRssKiB(pid));
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return Number((peak / 1024).toFixed(1));
    },
  };
}
