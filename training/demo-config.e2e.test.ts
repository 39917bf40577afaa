/**
 * The demo's promise: `npm run demo` trains training/configs/demo.json and
 * promotes it to dev, so the model it trains must pass dev's gates
 * (environments/promotion-gates.json). Trained here for real, as the demo
 * trains it: train() on the native backend, the config unchanged. A
 * regression once made it early-stop at 0.82 test accuracy (validation read
 * batch-norm statistics that had not moved off their initial values); this
 * test fails on that.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect } from '@jest/globals';
import { readJsonFile } from '../platform/index.ts';
import { tempDir } from '../testing/lock/fixtures.ts';
import { itNative } from '../testing/native.ts';
import { loadTrainingConfig } from './config.ts';
import { train } from './train.ts';

const ROOT = join(import.meta.dirname, '..');

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

itNative(
  "training/configs/demo.json passes dev's promotion gates on accuracy and macro-F1",
  async () => {
    dir = await tempDir('demo-config-');
    const config = await loadTrainingConfig(join(ROOT, 'training', 'configs', 'demo.json'));
    const gates = (await readJsonFile(join(ROOT, 'environments', 'promotion-gates.json'))) as {
      environments: { dev: { gates: { minMetric: Record<string, number>; metricsPresent: string[] } } };
    };
    const dev = gates.environments.dev.gates;
    const result = await train(config, {
      outDir: join(dir, 'artifact'),
      dataPath: join(dir, 'data'),
      progress: false,
      log: () => {},
    });
    expect(result.backend.id).toBe('tensorflow');
    const metrics = result.metrics as unknown as Record<string, number>;
    for (const name of dev.metricsPresent) expect(typeof metrics[name]).toBe('number');
    const below = Object.entries(dev.minMetric)
      .filter(([name, min]) => !((metrics[name] ?? Number.NaN) >= min))
      .map(([name, min]) => `${name} ${metrics[name]} < ${min}`);
    expect(below).toEqual([]);
  },
  300_000,
);
