/**
 * Start the two servers of the peer benchmark on loopback ports, and sample
 * the resident memory of a process tree from /proc (VmRSS of the process and
 * every descendant, so a wrapper process cannot hide the real server).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../../platform/index.ts';
import { freePort } from '../../testing/ports.ts';

export interface Running {
  name: string;
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

async function waitReady(name: string, proc: ChildProcess, url: string, log: () => string): Promise<void> {
  const until = Date.now() + 180_000;
  while (Date.now() < until) {
    if (proc.exitCode !== null) {
      throw new ProjectError(
        'INVALID',
        `${name} exited with code ${proc.exitCode} before it was ready:\n${log()}`,
      );
    }
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ProjectError('INVALID', `${name}: ${url}/readyz did not answer 200 within 180 s:\n${log()}`);
}

function start(command: string, args: string[], env: Record<string, string>, cwd: string) {
  const proc = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return { proc, log: () => log, exited };
}

/** serving/main.ts in its own Node process, run as the image runs it (`node serving/main.ts`: Node's own type stripping, no loader), default backend. */
export async function startKoa(root: string, env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { proc, log, exited } = start(
    process.execPath,
    [join(root, 'serving', 'main.ts')],
    { ...env, SERVING_HOST: '127.0.0.1', SERVING_PORT: String(port) },
    root,
  );
  await waitReady('koa (serving/main.ts)', proc, url, log);
  return { name: 'koa', url, pid: proc.pid!, stop: () => stopProc(proc, exited) };
}

/** bench/peer/server.py under the venv's Python (uvicorn, one worker). */
export async function startPeer(
  python: string,
  root: string,
  artifact: string,
  model: { name: string; version: string },
  workers = 1,
): Promise<Running> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { proc, log, exited } = start(
    python,
    [
      join(root, 'bench', 'peer', 'server.py'),
      '--artifact',
      artifact,
      '--name',
      model.name,
      '--version',
      model.version,
      '--port',
      String(port),
      '--workers',
      String(workers),
    ],
    { TF_CPP_MIN_LOG_LEVEL: '2' },
    root,
  );
  await waitReady('peer (bench/peer/server.py)', proc, url, log);
  return {
    name: workers > 1 ? `peer-${workers}w` : 'peer',
    url,
    pid: proc.pid!,
    stop: () => stopProc(proc, exited),
  };
}

async function stopProc(proc: ChildProcess, exited: Promise<void>): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  try {
    const { readdir } = await import('node:fs/promises');
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
      for (const c of text.trim().split(/\s+/).filter(Boolean)) out.push(Number(c));
    }
  } catch {
    // the process is gone
  }
  return out;
}

/** VmRSS of `pid` and all its descendants, in KiB (0 when gone). */
export async function treeRssKiB(pid: number): Promise<number> {
  let total = 0;
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (m) total += Number(m[1]);
    queue.push(...(await children(p)));
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
