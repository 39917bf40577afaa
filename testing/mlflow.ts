/**
 * Test-only: start a real MLflow tracking server on a loopback port, with a
 * SQLite backend store and a local artifact root served through the
 * server's artifact proxy, from the cached venv that
 * scripts/setup.d/30-mlflow.sh installs. A test file gates its tests with
 * `needs(mlflowInstalled())` (testing/services.ts): skipped with the
 * reason outside CI, a failure with CI=true; a server that does not start is
 * a failure.
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/tracking-server/
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { type Requirement, requirement } from './services.ts';

/** The MLflow version scripts/setup.d/30-mlflow.sh pins. */
export const MLFLOW_VERSION = '3.17.2';

/** The venv folder: GITOPS_ML_MLFLOW_VENV, or the cache path the setup step uses. */
export function mlflowVenv(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GITOPS_ML_MLFLOW_VENV) return env.GITOPS_ML_MLFLOW_VENV;
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'gitops-ml', `mlflow-${MLFLOW_VERSION}`);
}

/** The MLflow venv, as tests need it: `needs(mlflowInstalled())`. Its `path` is the venv folder. */
export function mlflowInstalled(): Requirement {
  const venv = mlflowVenv();
  return requirement(
    `MLflow ${MLFLOW_VERSION}`,
    existsSync(join(venv, 'bin', 'mlflow')) ? venv : undefined,
    `run bash scripts/setup.d/30-mlflow.sh (installs into ${venv})`,
  );
}

export interface MlflowServer {
  /** http://127.0.0.1:<port> */
  uri: string;
  port: number;
  /** The temp folder holding mlflow.db and artifacts/. */
  dir: string;
  venv: string;
  /** Stop the server process (the data stays); {@link start} brings it back on the same port. */
  stop(): Promise<void>;
  /** Start it again on the same port and data. */
  start(): Promise<void>;
  /** Stop and delete the temp folder. */
  close(): Promise<void>;
}

async function waitHealthy(
  uri: string,
  proc: ChildProcess,
  logs: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `mlflow server exited (${proc.exitCode ?? proc.signalCode}) before it was healthy:\n${logs()}`,
      );
    }
    try {
      const res = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`mlflow server at ${uri} not healthy after ${timeoutMs} ms:\n${logs()}`);
}

/** Start a real MLflow server; throws when the venv is missing (gate the tests with `needs(mlflowInstalled())`). */
export async function startMlflow(options: { timeoutMs?: number } = {}): Promise<MlflowServer> {
  const venv = mlflowInstalled().path;
  const dir = await mkdtemp(join(tmpdir(), 'mlflow-server-'));
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    output = '';
    proc = spawn(
      join(venv, 'bin', 'mlflow'),
      [
        'server',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        '1',
        '--backend-store-uri',
        `sqlite:///${join(dir, 'mlflow.db')}`,
        '--artifacts-destination',
        join(dir, 'artifacts'),
      ],
      {
        cwd: dir,
        detached: true, // own process group, so stop() also ends the server's workers
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, MLFLOW_TRACKING_URI: '', PYTHONUNBUFFERED: '1' },
      },
    );
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    await waitHealthy(uri, proc, () => output, options.timeoutMs ?? 240_000);
  };

  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    try {
      process.kill(-p.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
    // The group's workers may outlive the parent by a moment: wait until the port is closed.
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`${uri}/health`, { signal: AbortSignal.timeout(500) });
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  try {
    await start();
  } catch (e) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    uri,
    port,
    dir,
    venv,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
