import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readLock } from '../lock/index.ts';
import { exitCodeOf, ProjectError } from '../platform/index.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { main } from './train.ts';

let dir: string;
let configPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'train-script-'));
  configPath = join(dir, 'tiny.json');
  await writeFile(
    configPath,
    JSON.stringify(tinyTrainingConfig({ name: 'tiny-classifier', dataPath: join(dir, 'data') })),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('scripts/train.ts', () => {
  it('is bad usage (exit 2) without --config/--out, or with an unknown flag', async () => {
    for (const argv of [[], ['--config', 'x.json'], ['--config', 'x', '--out', 'y', '--bogus']]) {
      const err = await main(argv, { print: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProjectError);
      expect(exitCodeOf(err)).toBe(2);
    }
  });

  it('is bad usage to force an unknown backend through TRAINING_BACKEND', async () => {
    const err = await main(['--config', configPath, '--out', join(dir, 'x')], {
      env: { TRAINING_BACKEND: 'tpu' },
    }).catch((e: unknown) => e);
    expect((err as ProjectError).message).toContain('TRAINING_BACKEND=tpu is not one of');
    expect(exitCodeOf(err)).toBe(2);
  });

  it('fails (exit 1) naming the config file when it is missing', async () => {
    const missing = join(dir, 'nope.json');
    const err = await main(['--config', missing, '--out', join(dir, 'x')]).catch((e: unknown) => e);
    expect((err as ProjectError).message).toBe(`${missing}: no such file`);
    expect(exitCodeOf(err)).toBe(1);
  });

  it('trains (TRAINING_BACKEND=cpu forces pure JS), records the run in the local store, adds the candidate to the lock, prints the summary', async () => {
    const lines: string[] = [];
    const out = join(dir, 'artifact');
    const lockPath = join(dir, 'models.lock.json');
    await writeFile(lockPath, '{"lockfileVersion":2,"models":{}}\n');
    const code = await main(['--config', configPath, '--out', out, '--no-progress', '--lock', lockPath], {
      env: { TRAINING_BACKEND: 'cpu' },
      cwd: dir,
      print: (l) => lines.push(l),
    });
    expect(code).toBe(0);
    const table = lines.join('\n');
    for (const row of ['backend', 'dataset digest', 'split (train/val/test)', 'epochs run', 'best epoch']) {
      expect(table).toMatch(new RegExp(`^${row.replace(/[()]/g, '\\$&')}\\s{2,}\\S`, 'm'));
    }
    expect(table).toMatch(/^backend\s+cpu \(@tensorflow\/tfjs \(pure JS\)\)$/m);
    expect(table).toMatch(/^test accuracy\s+\d\.\d{4}$/m);
    expect(table).toMatch(/^macro-F1\s+\d\.\d{4}$/m);
    expect(
      table
        .split('\n')
        .find((l) => l.startsWith('artifact'))
        ?.split(/\s{2,}/),
    ).toEqual(['artifact', out]);
    expect(table).toMatch(/^root digest\s+[0-9a-f]{64}$/m);
    const root = /^root digest\s+([0-9a-f]{64})$/m.exec(table)?.[1] as string;
    expect(table).toMatch(
      new RegExp(`^lock version\\s+tiny-classifier v${root.slice(0, 12)} \\(candidate\\)$`, 'm'),
    );
    const lock = await readLock(lockPath);
    const entry = lock.models['tiny-classifier']!.versions[`v${root.slice(0, 12)}`]!;
    expect(entry.rootDigest).toBe(root);
    expect(entry.artifactUri).toBe('artifact');
    expect(lock.models['tiny-classifier']!.pins).toEqual({});
    const runId = /^tracking run\s+(\S+) \(local store /m.exec(table)?.[1];
    expect(runId).toBeTruthy();
    const runs = await readdir(join(dir, 'mlruns-local'), { recursive: true });
    expect(runs.some((p) => p.includes(String(runId)))).toBe(true);
  });
});
