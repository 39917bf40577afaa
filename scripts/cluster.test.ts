import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { formatStatus, main } from './cluster.ts';

describe('npm run cluster (flags and output; the stack itself: cluster.e2e.test.ts)', () => {
  test('the status table has fixed columns and says STOPPED / NO for what is not healthy', () => {
    expect(
      formatStatus([
        {
          name: 'etcd',
          pid: 12,
          address: 'http://127.0.0.1:2379',
          running: true,
          healthy: true,
          logFile: '',
        },
        {
          name: 'kube-apiserver',
          pid: 1234,
          address: 'https://127.0.0.1:6443',
          running: true,
          healthy: false,
          logFile: '',
        },
        { name: 'kwok', pid: 99, address: 'http://127.0.0.1:1', running: false, healthy: false, logFile: '' },
      ]),
    ).toBe(
      [
        'COMPONENT       PID   ADDRESS                 HEALTHY',
        'etcd            12    http://127.0.0.1:2379   yes',
        'kube-apiserver  1234  https://127.0.0.1:6443  NO',
        'kwok            99    http://127.0.0.1:1      STOPPED',
      ].join('\n'),
    );
  });

  test('a missing or unknown verb, or a bad --app-resync, is a usage error (exit 2)', async () => {
    await expect(main([])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/^expected one of up, status, down, argocd, image, serve\n/),
    });
    await expect(main(['start'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('got "start"'),
    });
    await expect(main(['stauts'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('got "stauts" (did you mean "status"?)'),
    });
    await expect(main(['up', '--app-resync', '0'])).rejects.toMatchObject({
      code: 'USAGE',
      message: '--app-resync must be over 0, got "0"',
    });
    await expect(main(['up', '--app-resync', 'ten'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('--app-resync "ten" is not a duration'),
    });
    await expect(main(['up', '--app-resync', '1500ms'])).rejects.toMatchObject({
      code: 'USAGE',
      message: '--app-resync must be whole seconds, got "1500ms"',
    });
    await expect(main(['up', '--bogus'])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(main(['up', '--alow-push'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/^unknown flag --alow-push \(did you mean --allow-push\?\)\n/),
    });
    await expect(main(['up', '--with', 'rollouts,istio'])).rejects.toMatchObject({
      code: 'USAGE',
      message: '--with istio: unknown component; one of rollouts',
    });
  });

  test('serve needs a known --env and a port number; without a cluster it says how to start one', async () => {
    await expect(main(['serve'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/^serve needs --env, one of dev, staging, prod\n/),
    });
    await expect(main(['serve', '--env', 'qa'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(
        /^--env "qa" is not one of dev, staging, prod \(the folders of environments\/\)\n/,
      ),
    });
    await expect(main(['serve', '--env', 'prdo'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(
        /^--env "prdo" is not one of dev, staging, prod \(the folders of environments\/\) \(did you mean "prod"\?\)\n/,
      ),
    });
    await expect(main(['serve', '--env', 'dev', '--port', '80x'])).rejects.toMatchObject({
      code: 'USAGE',
      message: '--port "80x" is not a port number (0-65535)',
    });
    const dir = await mkdtemp(join(tmpdir(), 'cluster-serve-'));
    try {
      for (const verb of ['serve', 'argocd'])
        await expect(main([verb, '--env', 'dev', '--dir', dir])).rejects.toMatchObject({
          code: 'NOT_FOUND',
          message: `no cluster started from ${dir}\n  → npm run cluster -- up`,
        });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('status and down on a folder where nothing was started say so; a foreign state file is refused by name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cluster-cli-'));
    try {
      const lines: string[] = [];
      expect(await main(['status', '--dir', dir], (l) => lines.push(l))).toBe(1);
      expect(await main(['down', '--dir', dir], (l) => lines.push(l))).toBe(0);
      expect(lines).toEqual([
        `no cluster started from ${dir} (npm run cluster -- up)`,
        `no cluster started from ${dir}`,
      ]);
      await writeFile(join(dir, 'state.json'), '{"format":"something-else"}\n');
      await expect(main(['down', '--dir', dir])).rejects.toMatchObject({
        code: 'INVALID',
        message: expect.stringContaining(`${join(dir, 'state.json')}: not a cluster state file`),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
