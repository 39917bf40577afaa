/**
 * Background processes of the local cluster: started detached (each in its
 * own process group, output to a log file) so that they outlive `up`, and
 * stopped by the pid `up` recorded, after checking that the pid still runs
 * the program that was started (a pid can be reused after a reboot).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, readlink, realpath } from 'node:fs/promises';
import { ProjectError } from '../../platform/errors.ts';

export interface DaemonSpec {
  /** Component name, for messages and the log file. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr go here (appended). */
  logFile: string;
}

/** Start a detached process; resolves to its pid once it has been spawned. */
export async function startDaemon(spec: DaemonSpec): Promise<number> {
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: spec.env ?? process.env,
      cwd: spec.cwd,
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (e) =>
        reject(
          new ProjectError('UNAVAILABLE', `${spec.name}: cannot start ${spec.command}: ${e.message}`, {
            subject: spec.name,
            cause: e,
          }),
        ),
      );
      child.once('spawn', () => resolve(child.pid as number));
    });
    child.unref();
    return pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` is alive and runs the program `command` (compared through
 * /proc/<pid>/exe, which holds even when a program rewrites its argv, as
 * redis-server does; on systems without /proc, alive is enough).
 */
export async function isRunning(pid: number, command: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone; EPERM: alive but another user's, so not one we started.
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie (state Z) has exited; its parent has not reaped it yet.
    if (/^\d+ \(.*\) Z /s.test(stat)) return false;
    const exe = (await readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
    return exe === (await realpath(command).catch(() => command));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT' || !(await procMounted());
  }
}

async function procMounted(): Promise<boolean> {
  try {
    await readFile('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stop a process `startDaemon` started, and its process group (children
 * such as git http-backend or repo-server's git): SIGTERM, then SIGKILL
 * after `graceMs`. Resolves to false when it was not running any more.
 */
export async function stopDaemon(pid: number, command: string, graceMs = 10_000): Promise<boolean> {
  if (!(await isRunning(pid, command))) return false;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s); // the group startDaemon created (detached: pgid = pid)
    } catch {
      try {
        process.kill(pid, s);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isRunning(pid, command))) return true;
    await sleep(100);
  }
  signal('SIGKILL');
  for (let i = 0; i < 50 && (await isRunning(pid, command)); i++) await sleep(100);
  return true;
}

/** The last `lines` lines of a log file ('' when it does not exist). */
export async function tailFile(path: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.split('\n').filter(Boolean).slice(-lines).join('\n');
  } catch {
    return '';
  }
}
