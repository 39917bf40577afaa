import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProjectError } from '../errors.ts';
import { stableStringify } from '../json.ts';
import { emptyLock, initLock, readLock, serializeLock, writeLock } from './io.ts';
import { addCandidate, pinVersion } from './mutate.ts';
import { fakeFiles, makeEntry, tempDir } from './testing.ts';
import type { Lock } from './types.ts';
import { updateLock } from './update.ts';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const AT = '2026-02-01T00:00:00.000Z';

function sampleLock(): Lock {
  let lock = addCandidate(emptyLock(), { model: 'demo-classifier', entry: makeEntry(fakeFiles(1)) }).lock;
  lock = addCandidate(lock, { model: 'demo-classifier', entry: makeEntry(fakeFiles(2)) }).lock;
  lock = pinVersion(lock, { model: 'demo-classifier', env: 'prod', version: '1', at: AT });
  return pinVersion(lock, { model: 'demo-classifier', env: 'dev', version: '2', at: AT, by: 'ci' });
}

/** Write `text` as a lock file, expect readLock and updateLock to refuse it, and the file to stay byte-identical. */
async function expectRefused(name: string, text: string): Promise<ProjectError> {
  const path = join(dir, `${name}.json`);
  await writeFile(path, text);
  const err = await readLock(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProjectError);
  await expect(updateLock(path, (l) => l)).rejects.toThrow((err as Error).message);
  expect(await readFile(path, 'utf8')).toBe(text);
  return err as ProjectError;
}

describe('readLock / writeLock', () => {
  it('writes deterministic bytes: sorted keys, 2-space indent, trailing newline, and reads them back', async () => {
    const path = join(dir, 'round.json');
    const lock = sampleLock();
    await writeLock(path, lock);
    const text = await readFile(path, 'utf8');
    expect(text).toBe(stableStringify(lock));
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.indexOf('"lockfileVersion"')).toBeLessThan(text.indexOf('"models"'));
    expect(await readLock(path)).toEqual(lock);
    await writeLock(path, await readLock(path));
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('matches the committed empty lock at the repository root', async () => {
    const root = await readFile(new URL('../../models.lock.json', import.meta.url), 'utf8');
    expect(root).toBe(serializeLock(emptyLock()));
  });

  it('refuses to write an invalid lock and leaves the file as it was', async () => {
    const path = join(dir, 'nowrite.json');
    await writeLock(path, sampleLock());
    const before = await readFile(path, 'utf8');
    const bad = sampleLock();
    (bad.models['demo-classifier'] as { pins: Record<string, string> }).pins.prod = '9';
    await expect(writeLock(path, bad)).rejects.toThrow(/pins\/prod: pins version "9", which does not exist/);
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('init creates an empty lock and never overwrites one', async () => {
    const path = join(dir, 'init.json');
    await initLock(path);
    expect(await readLock(path)).toEqual(emptyLock());
    await writeLock(path, sampleLock());
    const before = await readFile(path, 'utf8');
    await expect(initLock(path)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('names a missing file and says how to create one', async () => {
    await expect(readLock(join(dir, 'absent.json'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('lock -- init'),
    });
  });
});

describe('bad lock files are refused with what and where, and stay byte-identical', () => {
  it('lists every schema error by JSON path: wrong type, unknown field, missing field', async () => {
    const lock = JSON.parse(stableStringify(sampleLock()));
    const v1 = lock.models['demo-classifier'].versions['1'];
    v1.metrics.accuracy = 'high';
    v1.owner = 'me';
    delete v1.datasetDigest;
    lock.models['demo-classifier'].pins.Prod = '1';
    const err = await expectRefused('schema', `${JSON.stringify(lock, null, 2)}\n`);
    expect(err.code).toBe('INVALID');
    expect(err.message).toContain('/models/demo-classifier/versions/1/metrics/accuracy: must be number');
    expect(err.message).toContain('/models/demo-classifier/versions/1: unknown field "owner"');
    expect(err.message).toContain(
      '/models/demo-classifier/versions/1: missing required field "datasetDigest"',
    );
    expect(err.message).toContain('/models/demo-classifier/pins: key "Prod" must match pattern');
    expect(err.message).toContain('schema.json is invalid');
  });

  it('refuses a wrong lockfileVersion', async () => {
    const err = await expectRefused('version', '{"lockfileVersion": 2, "models": {}}\n');
    expect(err.message).toContain('/lockfileVersion: must be equal to constant');
  });

  it('gives line and column of invalid JSON', async () => {
    const err = await expectRefused('syntax', '{\n  "lockfileVersion": 1,\n  "models": {},\n}\n');
    expect(err.code).toBe('INVALID');
    expect(err.message).toMatch(/syntax\.json:4:1: not valid JSON/);
  });

  it('refuses a duplicate version key that JSON.parse would silently drop', async () => {
    const text = stableStringify(sampleLock()).replace(
      '"versions": {\n',
      '"versions": {\n        "2": {},\n',
    );
    const err = await expectRefused('dup', text);
    expect(err.message).toMatch(
      /dup\.json:\d+:\d+: duplicate key "2" in \/models\/demo-classifier\/versions/,
    );
  });

  it('refuses a pin to a version that does not exist', async () => {
    const lock = JSON.parse(stableStringify(sampleLock()));
    lock.models['demo-classifier'].pins.staging = '7';
    const err = await expectRefused('pin', stableStringify(lock));
    expect(err.message).toContain(
      '/models/demo-classifier/pins/staging: pins version "7", which does not exist (versions: 1, 2)',
    );
  });

  it('refuses a pin that no promotion record explains', async () => {
    const lock = JSON.parse(stableStringify(sampleLock()));
    lock.models['demo-classifier'].pins.prod = '2';
    const err = await expectRefused('unrecorded', stableStringify(lock));
    expect(err.message).toContain(
      '/models/demo-classifier/pins/prod: pins "2" but the last promotion record of prod moved it to "1"',
    );
  });

  it('refuses a rootDigest that does not add up', async () => {
    const lock = JSON.parse(stableStringify(sampleLock()));
    lock.models['demo-classifier'].versions['1'].rootDigest = 'f'.repeat(64);
    const err = await expectRefused('root', stableStringify(lock));
    expect(err.message).toContain('/models/demo-classifier/versions/1/rootDigest: is ffff');
  });
});
