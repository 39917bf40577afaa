import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { addCandidate, emptyLock, type Lock, pinVersion, serializeLock } from '../lock/index.ts';
import { fakeFiles, makeEntry } from '../lock/testing.ts';
import { readPinnedVersion } from './pin.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const AT = '2026-01-01T00:00:00.000Z';

/** A valid lock: each model gets versions 1 and 2, then the pins in order. */
function lockOf(models: Record<string, [env: string, version: string][]>): Lock {
  let lock = emptyLock();
  for (const [model, pins] of Object.entries(models)) {
    for (const n of [1, 2]) lock = addCandidate(lock, { model, entry: makeEntry(fakeFiles(n)) }).lock;
    for (const [env, version] of pins) lock = pinVersion(lock, { model, env, version, at: AT });
  }
  return lock;
}

async function write(text: string): Promise<string> {
  const path = join(dir, `lock-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, text);
  return path;
}

describe('readPinnedVersion', () => {
  it('reads the only model pin of an env', async () => {
    const path = await write(
      serializeLock(
        lockOf({
          'demo-classifier': [
            ['dev', '2'],
            ['prod', '1'],
          ],
        }),
      ),
    );
    await expect(readPinnedVersion(path, 'dev')).resolves.toEqual({ model: 'demo-classifier', version: '2' });
  });
  it('asks for --model when the lock holds several', async () => {
    const path = await write(serializeLock(lockOf({ a: [['dev', '1']], b: [['dev', '1']] })));
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(
      `${path} has several models (a, b); name one with --model`,
    );
    await expect(readPinnedVersion(path, 'dev', 'b')).resolves.toEqual({ model: 'b', version: '1' });
  });
  it('names the model and env when there is no pin', async () => {
    const path = await write(serializeLock(lockOf({ 'demo-classifier': [['prod', '1']] })));
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(
      `${path}: model demo-classifier has no pin for environment "dev"`,
    );
  });
  it('names the field of a malformed lock', async () => {
    const lock = lockOf({ 'demo-classifier': [['dev', '1']] });
    const text = serializeLock(lock).replace('"dev": "1"', '"dev": 2');
    await expect(readPinnedVersion(await write(text), 'dev')).rejects.toThrow(/pins\/dev: must be string/);
  });
});
