import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ProjectError, readJsonFile } from '../platform/index.ts';
import { loadTrainingConfig, parseTrainingConfig } from './config.ts';

const configs = join(import.meta.dirname, 'configs');

describe('training config', () => {
  it('accepts the shipped configs', async () => {
    const demo = await loadTrainingConfig(join(configs, 'demo.json'));
    expect(demo.name).toBe('demo-classifier');
    expect(demo.model.builder).toBe('deep-cnn');
    expect(demo.input).toEqual({ width: 32, height: 32, channels: 3 });
    expect(demo.data.kind).toBe('generated');
    const small = await loadTrainingConfig(join(configs, 'demo-pure-js.json'));
    expect(small.name).toBe('demo-classifier');
    expect(small.model.builder).toBe('small-cnn');
    expect(small.input).toEqual({ width: 16, height: 16, channels: 1 });
    const cifar = await loadTrainingConfig(join(configs, 'cifar10.json'));
    expect(cifar.model.builder).toBe('deep-cnn');
    expect(cifar.input).toEqual({ width: 32, height: 32, channels: 3 });
  });

  it('names every offending field at once: an unknown field and a wrong type', async () => {
    const good = (await readJsonFile(join(configs, 'demo.json'))) as Record<string, unknown>;
    const bad = structuredClone(good) as {
      training: Record<string, unknown>;
      model: Record<string, unknown>;
    };
    bad.training.epochz = 3;
    bad.model.dropout = 'lots';
    const dir = await mkdtemp(join(tmpdir(), 'config-test-'));
    const path = join(dir, 'bad.json');
    await writeFile(path, JSON.stringify(bad));
    const err = await loadTrainingConfig(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectError);
    const e = err as ProjectError;
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain(path);
    expect(e.message).toContain('/training: unknown field "epochz"');
    expect(e.message).toContain('/model/dropout: must be number');
  });

  it('refuses unknown fields at every level and a missing section', () => {
    const err = (() => {
      try {
        parseTrainingConfig({ name: 'x', seed: 1, extra: true }, 'inline');
      } catch (e) {
        return e as ProjectError;
      }
    })();
    expect(err?.message).toContain('/: unknown field "extra"');
    expect(err?.message).toContain('/: missing required field "training"');
    expect(err?.message).toContain('/: missing required field "augmentation"');
  });

  it('does not change the object it validates', async () => {
    const good = await readJsonFile(join(configs, 'demo.json'));
    const copy = structuredClone(good);
    parseTrainingConfig(good);
    expect(good).toEqual(copy);
  });
});
