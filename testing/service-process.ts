/**
 * Test-only: a service a test starts as a child process (MLflow, the object
 * store): in its own process group, so that stopping it also ends its
 * workers; its last output kept for the error a failed start throws; ready
 * when its health URL answers 2xx. One start, one stop: the starters
 * (testing/mlflow.ts, testing/object-store.ts) call it again to restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface ServiceProcessSpec {
  /** For messages: "mlflow server", "weed server". */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Answers 2xx once the service serves. */
  healthUrl: string;
  timeoutMs: number;
}

/** A started service: {@link ServiceProcess.stop} ends its process group and waits until its port is closed. */
export interface ServiceProcess {
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function answers(url: string, timeoutMs: number): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })).ok;
  } catch {
    return false;
  }
}

async function stopGroup(proc: ChildProcess, healthUrl: string): Promise<void> {
  if (!proc.pid || proc.exitCode !== null || proc.signalCode !== null) return;
  const pid = proc.pid;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 10_000);
  await exited;
  clearTimeout(timer);
  // The group's workers may outlive the parent by a moment: wait until nothing answers.
  for (let i = 0; i < 100 && (await answers(healthUrl, 500)); i++) await sleep(100);
}

/** Start the service and wait until it is healthy; a start that fails stops what it started and throws with its output. */
export async function startServiceProcess(spec: ServiceProcessSpec): Promise<ServiceProcess> {
  let output = '';
  const proc = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    detached: true, // own process group: stop() ends the service's children too
    stdio: ['ignore', 'pipe', 'pipe'],
    env: spec.env,
  });
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-8000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const stop = () => stopGroup(proc, spec.healthUrl);
  const deadline = Date.now() + spec.timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `${spec.name} exited (${proc.exitCode ?? proc.signalCode}) before it was healthy:\n${output}`,
      );
    }
    if (await answers(spec.healthUrl, 2000)) return { stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${spec.name} at ${spec.healthUrl} not healthy after ${spec.timeoutMs} ms:\n${output}`);
    }
    await sleep(250);
  }
}
