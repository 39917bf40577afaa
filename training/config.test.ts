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
    expect(cifar.model.builder).toBe('airbench');
    expect(cifar.input).toEqual({ width: 32, height: 32, channels: 3 });
    expect(cifar.data).toMatchObject({ kind: 'image-folder', pointer: 'data/cifar10.json' });
    expect(cifar.data.split.test).toBe('folder');
    expect(cifar.training.optimizer?.name).toBe('sgd');
  });

  it('takes the fast recipe fields, and names what does not fit together', async () => {
    const cifar = (await readJsonFile(join(configs, 'cifar10.json'))) as Record<
      string,
      Record<string, unknown>
    >;
    const bad = structuredClone(cifar) as {
      data: Record<string, unknown>;
      model: Record<string, unknown>;
      training: Record<string, unknown>;
    };
    bad.training.optimizer = { name: 'sgd', momentum: 0.9, nesterov: 'yes', weightDecay: 0.001, lr: 1 };
    bad.training.labelSmoothing = 1;
    bad.data.split = { validation: 0.1, test: 'somewhere' };
    const err = (() => {
      try {
        parseTrainingConfig(bad, 'cifar.json');
      } catch (e) {
        return e as ProjectError;
      }
    })();
    expect(err?.message).toContain('/training/optimizer/nesterov: must be boolean');
    expect(err?.message).toContain('/training/optimizer: unknown field "lr"');
    expect(err?.message).toContain('/training/labelSmoothing: must be < 1');
    expect(err?.message).toContain('/data/split/test: must be equal to constant');
    // Adam takes no SGD fields.
    expect(() =>
      parseTrainingConfig({
        ...cifar,
        training: { ...cifar.training, optimizer: { name: 'adam', momentum: 0.9 } },
      }),
    ).toThrow('/training/optimizer: unknown field "momentum"');
    const mixed = structuredClone(bad);
    Object.assign(mixed.training, {
      optimizer: { name: 'adam' },
      labelSmoothing: 0.1,
      schedule: 'cosine',
      warmupEpochs: 1,
    });
    mixed.data.split = { validation: 0.1, test: 'folder' };
    mixed.data.kind = 'cifar10';
    mixed.data.maxPerClass = 3;
    mixed.model = { builder: 'deep-cnn', whitening: true };
    const cross = (() => {
      try {
        parseTrainingConfig(mixed, 'mixed.json');
      } catch (e) {
        return e as ProjectError;
      }
    })();
    expect(cross?.message).toContain('mixed.json is invalid');
    expect(cross?.message).toContain('/training/oneCycle: set, but /training/schedule is "cosine"');
    expect(cross?.message).toContain(
      '/model/whitening: only the airbench builder takes it (builder is "deep-cnn")',
    );
    expect(cross?.message).toContain(
      '/data/maxPerClass: only image-folder data takes it (kind is "cifar10")',
    );
    const warm = structuredClone(cifar) as { training: Record<string, unknown> };
    warm.training.warmupEpochs = 2;
    expect(() => parseTrainingConfig(warm)).toThrow(
      '/training/warmupEpochs: must be 0 with the one-cycle schedule',
    );
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
