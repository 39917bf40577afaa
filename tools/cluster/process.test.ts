import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { waitReady } from './probe.ts';
import { isRunning, startDaemon, stopDaemon, tailFile } from './process.ts';

const SH = '/bin/sh';

describe('cluster processes (real child processes)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cluster-process-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a daemon is recognised by its program (not by its pid alone) and stopped with its process group', async () => {
    const logFile = join(dir, 'sleeper.log');
    // The shell starts a child (sleep) in the same process group: stopDaemon must take both.
    const pid = await startDaemon({
      name: 'sleeper',
      command: SH,
      args: ['-c', 'echo started; sleep 60 & wait'],
      logFile,
    });
    expect(await isRunning(pid, SH)).toBe(true);
    // The same pid does not count as another program (a reused pid is left alone).
    expect(await isRunning(pid, '/usr/bin/env')).toBe(false);
    expect(await stopDaemon(pid, '/usr/bin/env', 1000)).toBe(false);
    expect(await isRunning(pid, SH)).toBe(true);

    for (let i = 0; i < 50 && !(await tailFile(logFile)).includes('started'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await tailFile(logFile)).toBe('started');
    expect(await stopDaemon(pid, SH, 5000)).toBe(true);
    expect(await isRunning(pid, SH)).toBe(false);
    expect(await stopDaemon(pid, SH)).toBe(false); // already stopped
  });

  test('waitReady fails early when the process exits, naming it, its address and its last log lines', async () => {
    const logFile = join(dir, 'crasher.log');
    const pid = await startDaemon({
      name: 'crasher',
      command: SH,
      args: ['-c', 'echo "listen tcp 127.0.0.1:1: bind: permission denied" >&2; exit 3'],
      logFile,
    });
    const started = Date.now();
    await expect(
      waitReady(
        { name: 'crasher', address: '127.0.0.1:1', pid, command: SH, logFile },
        async () => false,
        60_000,
      ),
    ).rejects.toThrow(
      `crasher on 127.0.0.1:1: exited (pid ${pid}); last lines of ${logFile}:\nlisten tcp 127.0.0.1:1: bind: permission denied`,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  test('waitReady gives up after its timeout when the process runs but never gets ready', async () => {
    const logFile = join(dir, 'slow.log');
    const pid = await startDaemon({
      name: 'slow',
      command: SH,
      args: ['-c', 'echo warming up; sleep 60'],
      logFile,
    });
    try {
      await expect(
        waitReady(
          { name: 'slow', address: 'http://127.0.0.1:2', pid, command: SH, logFile },
          async () => false,
          1000,
        ),
      ).rejects.toThrow(
        /^slow on http:\/\/127\.0\.0\.1:2: not ready after 1s; last lines of .*slow\.log:\nwarming up$/,
      );
    } finally {
      await stopDaemon(pid, SH, 2000);
    }
  });
});
