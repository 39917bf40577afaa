import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readPinnedVersion } from './pin.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lockWith(models: unknown): Promise<string> {
  const path = join(dir, `lock-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, JSON.stringify({ lockfileVersion: 1, models }));
  return path;
}

describe('readPinnedVersion', () => {
  it('reads the only model pin of an env', async () => {
    const path = await lockWith({ 'demo-classifier': { pins: { dev: '2', prod: '1' }, versions: {} } });
    await expect(readPinnedVersion(path, 'dev')).resolves.toEqual({ model: 'demo-classifier', version: '2' });
  });
  it('asks for --model when the lock holds several', async () => {
    const path = await lockWith({ a: { pins: { dev: '1' } }, b: { pins: { dev: '1' } } });
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(
      `${path} holds 2 models (a, b): say which with --model`,
    );
    await expect(readPinnedVersion(path, 'dev', 'b')).resolves.toEqual({ model: 'b', version: '1' });
  });
  it('names the model and env when there is no pin', async () => {
    const path = await lockWith({ 'demo-classifier': { pins: { prod: '1' } } });
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(
      `${path}: model demo-classifier has no pin for environment "dev"`,
    );
  });
  it('names the field of a malformed lock', async () => {
    const path = await lockWith({ 'demo-classifier': { pins: { dev: 2 } } });
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(/pins\/dev/);
  });
});
