import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fakeFiles, makeEntry, fakeVersion as v, writeFileDeep } from '../testing/lock/fixtures.ts';
import { addCandidate, emptyLock, type Lock, lockFiles, pinVersion, readPinnedVersion } from './index.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const AT = '2026-01-01T00:00:00.000Z';

/** A valid lock: each model gets versions v(1) and v(2), then the pins (by n) in order. */
function lockOf(models: Record<string, [env: string, n: number][]>): Lock {
  let lock = emptyLock();
  for (const [model, pins] of Object.entries(models)) {
    for (const n of [1, 2]) lock = addCandidate(lock, { model, entry: makeEntry(fakeFiles(n)) }).lock;
    for (const [env, n] of pins) lock = pinVersion(lock, { model, env, version: v(n), at: AT });
  }
  return lock;
}

/** Write the lock's files in a fresh folder; `edit` may change the index text. Returns the index path. */
async function write(lock: Lock, edit: (index: string) => string = (t) => t): Promise<string> {
  const root = join(dir, `lock-${Math.random().toString(36).slice(2)}`);
  const files = lockFiles(lock, 'models.lock.json');
  files['models.lock.json'] = edit(files['models.lock.json'] as string);
  for (const [rel, text] of Object.entries(files)) await writeFileDeep(join(root, rel), text);
  return join(root, 'models.lock.json');
}

describe('readPinnedVersion', () => {
  it('reads the only model pin of an env', async () => {
    const path = await write(
      lockOf({
        'demo-classifier': [
          ['dev', 2],
          ['prod', 1],
        ],
      }),
    );
    await expect(readPinnedVersion(path, 'dev')).resolves.toEqual({
      model: 'demo-classifier',
      version: v(2),
    });
  });
  it('asks for --model when the lock holds several', async () => {
    const path = await write(lockOf({ a: [['dev', 1]], b: [['dev', 1]] }));
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(
      `${path} has several models (a, b); name one with --model`,
    );
    await expect(readPinnedVersion(path, 'dev', 'b')).resolves.toEqual({ model: 'b', version: v(1) });
  });
  it('names the model and env when there is no pin', async () => {
    const path = await write(lockOf({ 'demo-classifier': [['prod', 1]] }));
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(
      `${path}: model demo-classifier has no pin for environment "dev"`,
    );
  });
  it('names the field of a malformed lock', async () => {
    const lock = lockOf({ 'demo-classifier': [['dev', 1]] });
    const path = await write(lock, (t) => t.replace(`"dev": "${v(1)}"`, '"dev": 2'));
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(/pins\/dev: must be string/);
  });
});
