/**
 * The demo data set is learnable: a small CNN (the kind the demo config
 * trains) reaches >= 90 % test accuracy on 16x16 grayscale shapes. The probe
 * runs as its own process (see learnability.ts for why).
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { run } from '../../platform/shell.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'learnable-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('a small CNN learns the generated shapes to >= 90 % test accuracy', async () => {
  const { stdout } = await run(
    process.execPath,
    ['node_modules/.bin/tsx', 'training/data/learnability.ts', join(dir, 'shapes')],
    { timeoutMs: 890_000 }, // the test's own budget (below), not platform/shell's default
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { accuracy: number; test: number };
  expect(result.test).toBe(152);
  expect(result.accuracy).toBeGreaterThanOrEqual(0.9);
}, 900_000);
