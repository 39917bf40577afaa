/**
 * serving/main.ts as a child process (tsx), as a pod runs it: tests see a
 * crash as the process exiting, and the server's event loop is not shared
 * with the test's own work.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ServerProcess {
  proc: ChildProcess;
  /** JSON log lines so far. */
  lines: Record<string, unknown>[];
  /** Resolves at the "ready" log line; rejects if the process exits first. */
  ready: Promise<void>;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  stderr(): string;
}

/**
 * Spawn serving/main.ts with exactly `env` (plus PATH and HOME); by default
 * from this checkout through tsx, or as `node <args>` in `cwd` (an image's file
 * tree, serving/image.e2e.test.ts).
 */
export function spawnServer(
  env: Record<string, string>,
  at?: { cwd: string; nodeArgs: string[] },
): ServerProcess {
  const args = at?.nodeArgs ?? [join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'serving/main.ts')];
  const proc = spawn(process.execPath, args, {
    cwd: at?.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let buf = '';
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          lines.push(obj);
          if (obj.msg === 'ready') resolve();
        } catch {
          // tfjs prints non-JSON banners
        }
      }
    });
    proc.on('exit', (code) =>
      reject(new Error(`server exited ${code} before ready: ${stderr}${JSON.stringify(lines)}`)),
    );
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, lines, ready, exited, stderr: () => stderr };
}
