import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProjectError } from '../platform/errors.ts';
import { stableStringify } from '../platform/json.ts';
import { fakeFiles, makeEntry, tempDir, fakeVersion as v, writeFileDeep } from '../testing/lock/fixtures.ts';
import { lockFiles, versionsDirOf } from './files.ts';
import { emptyLock, initLock, readLock, writeLock } from './io.ts';
import { addCandidate, pinVersion } from './mutate.ts';
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
const M = 'demo-classifier';

function sampleLock(): Lock {
  let lock = addCandidate(emptyLock(), { model: M, entry: makeEntry(fakeFiles(1)) }).lock;
  lock = addCandidate(lock, { model: M, entry: makeEntry(fakeFiles(2)) }).lock;
  lock = pinVersion(lock, { model: M, env: 'prod', version: v(1), at: AT });
  return pinVersion(lock, { model: M, env: 'dev', version: v(2), at: AT, by: 'ci' });
}

/** Every file under `root`, path → text. */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const p = join(e.parentPath, e.name);
      out[p.slice(root.length + 1)] = await readFile(p, 'utf8');
    }
  }
  return out;
}

/**
 * Write a lock's files (the sample lock's, then `edit` them: path relative to
 * a fresh folder → text, undefined removes), expect readLock and updateLock to
 * refuse them, and every file to stay byte-identical.
 */
async function expectRefused(
  name: string,
  edit: (files: Record<string, string | undefined>) => void,
): Promise<ProjectError> {
  const root = join(dir, name);
  const files: Record<string, string | undefined> = lockFiles(sampleLock(), 'models.lock.json');
  edit(files);
  for (const [rel, text] of Object.entries(files))
    if (text !== undefined) await writeFileDeep(join(root, rel), text);
  const before = await tree(root);
  const path = join(root, 'models.lock.json');
  const err = await readLock(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProjectError);
  await expect(updateLock(path, (l) => l)).rejects.toThrow((err as Error).message);
  expect(await tree(root)).toEqual(before);
  return err as ProjectError;
}

const versionFile = (n: number) => `models.lock.d/${M}/${v(n)}.json`;

describe('readLock / writeLock', () => {
  it('writes the index and one file per version, deterministic bytes, and reads them back', async () => {
    const path = join(dir, 'round', 'models.lock.json');
    const lock = sampleLock();
    await writeLock(path, lock);
    const files = await tree(join(dir, 'round'));
    expect(Object.keys(files).sort()).toEqual(['models.lock.json', versionFile(1), versionFile(2)].sort());
    const index = files['models.lock.json'] as string;
    expect(index).toBe(
      stableStringify({
        lockfileVersion: 2,
        models: { [M]: { pins: lock.models[M]!.pins, promotions: lock.models[M]!.promotions } },
      }),
    );
    expect(index).not.toContain('"versions"');
    expect(files[versionFile(1)]).toBe(stableStringify(lock.models[M]!.versions[v(1)]));
    expect(await readLock(path)).toEqual(lock);
    await writeLock(path, await readLock(path));
    expect(await tree(join(dir, 'round'))).toEqual(files);
  });

  it('a model with versions but no pin is not in the index: its first candidate only adds a file', async () => {
    const lock = addCandidate(emptyLock(), { model: 'new-model', entry: makeEntry(fakeFiles(3)) }).lock;
    const files = lockFiles(lock, 'models.lock.json');
    expect(files['models.lock.json']).toBe(lockFiles(emptyLock(), 'models.lock.json')['models.lock.json']);
    expect(Object.keys(files)).toEqual(['models.lock.json', `models.lock.d/new-model/${v(3)}.json`]);
  });

  it('names the versions folder after the lock file', () => {
    expect(versionsDirOf('models.lock.json')).toBe('models.lock.d');
    expect(versionsDirOf('/repo/x/lock.json')).toBe('/repo/x/lock.d');
    expect(versionsDirOf('/repo/lockfile')).toBe('/repo/lockfile.d');
  });

  it('matches the committed empty lock at the repository root', async () => {
    const root = await readFile(new URL('../models.lock.json', import.meta.url), 'utf8');
    expect(root).toBe(lockFiles(emptyLock())['models.lock.json']);
  });

  it('refuses to write an invalid lock and leaves the files as they were', async () => {
    const path = join(dir, 'nowrite', 'models.lock.json');
    await writeLock(path, sampleLock());
    const before = await tree(join(dir, 'nowrite'));
    const bad = sampleLock();
    (bad.models[M] as { pins: Record<string, string> }).pins.prod = 'vaaaaaaaaaaaa';
    await expect(writeLock(path, bad)).rejects.toThrow(
      /pins\/prod: pins version "vaaaaaaaaaaaa", which does not exist/,
    );
    expect(await tree(join(dir, 'nowrite'))).toEqual(before);
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

  it('ignores the temporary dot files of a writer in the versions folder', async () => {
    const path = join(dir, 'dots', 'models.lock.json');
    await writeLock(path, sampleLock());
    await writeFile(join(dir, 'dots', 'models.lock.d', M, `.${v(3)}.json.123.tmp`), '{');
    expect(await readLock(path)).toEqual(sampleLock());
  });
});

describe('bad lock files are refused with what and where, and stay byte-identical', () => {
  it('lists every schema error of a version file by its path and JSON pointer', async () => {
    const err = await expectRefused('schema', (f) => {
      const entry = JSON.parse(f[versionFile(1)] as string);
      entry.metrics.accuracy = 'high';
      entry.owner = 'me';
      delete entry.datasetDigest;
      f[versionFile(1)] = stableStringify(entry);
    });
    expect(err.code).toBe('INVALID');
    expect(err.message).toContain(`${versionFile(1)} is invalid`);
    expect(err.message).toContain('/metrics/accuracy: must be number');
    expect(err.message).toContain('/: unknown field "owner"');
    expect(err.message).toContain('/: missing required field "datasetDigest"');
  });

  it('lists the index schema errors by JSON path', async () => {
    const err = await expectRefused('index', (f) => {
      const index = JSON.parse(f['models.lock.json'] as string);
      index.models[M].pins.Prod = v(1);
      index.models[M].versions = {};
      f['models.lock.json'] = stableStringify(index);
    });
    expect(err.message).toContain('models.lock.json is invalid');
    expect(err.message).toContain(`/models/${M}: unknown field "versions"`);
    expect(err.message).toContain(`/models/${M}/pins: key "Prod" must match pattern`);
  });

  it('refuses lockfileVersion 1 with the way to migrate, and any other version', async () => {
    const one = await expectRefused('v1', (f) => {
      f['models.lock.json'] = '{"lockfileVersion": 1, "models": {}}\n';
    });
    expect(one.message).toContain('is lockfileVersion 1 (every version inside the one file');
    expect(one.hint).toContain('From lockfileVersion 1');
    const three = await expectRefused('v3', (f) => {
      f['models.lock.json'] = '{"lockfileVersion": 3, "models": {}}\n';
    });
    expect(three.message).toContain('/lockfileVersion: must be equal to constant');
  });

  it('gives line and column of invalid JSON, in the index and in a version file', async () => {
    const err = await expectRefused('syntax', (f) => {
      f['models.lock.json'] = '{\n  "lockfileVersion": 2,\n  "models": {},\n}\n';
    });
    expect(err.message).toMatch(/models\.lock\.json:4:1: not valid JSON/);
    const inVersion = await expectRefused('syntax-version', (f) => {
      f[versionFile(2)] = '{\n  "artifactUri": "x",\n}\n';
    });
    expect(inVersion.message).toContain(`${versionFile(2)}:3:1: not valid JSON`);
  });

  it('refuses a duplicate key that JSON.parse would silently drop', async () => {
    const err = await expectRefused('dup', (f) => {
      f[versionFile(1)] = (f[versionFile(1)] as string).replace(
        '"metrics": {\n',
        '"metrics": {\n    "accuracy": 1,\n',
      );
    });
    expect(err.message).toMatch(/\d+:\d+: duplicate key "accuracy" in \/metrics/);
  });

  it('refuses a pin to a version that does not exist', async () => {
    const err = await expectRefused('pin', (f) => {
      f[versionFile(2)] = undefined;
    });
    expect(err.message).toContain(
      `/models/${M}/pins/dev: pins version "${v(2)}", which does not exist (versions: ${v(1)})`,
    );
  });

  it('refuses a pin that no promotion record explains', async () => {
    const err = await expectRefused('unrecorded', (f) => {
      const index = JSON.parse(f['models.lock.json'] as string);
      index.models[M].pins.prod = v(2);
      f['models.lock.json'] = stableStringify(index);
    });
    expect(err.message).toContain(
      `/models/${M}/pins/prod: pins "${v(2)}" but the last promotion record of prod moved it to "${v(1)}"`,
    );
  });

  it('refuses a rootDigest that does not add up, and a version file not named after its root digest', async () => {
    const err = await expectRefused('root', (f) => {
      const entry = JSON.parse(f[versionFile(1)] as string);
      entry.rootDigest = `${v(1).slice(1)}${'f'.repeat(52)}`;
      f[versionFile(1)] = stableStringify(entry);
    });
    expect(err.message).toContain(`/models/${M}/versions/${v(1)}/rootDigest: is ${v(1).slice(1)}ffff`);
    const renamed = await expectRefused('renamed', (f) => {
      f[`models.lock.d/${M}/${v(3)}.json`] = f[versionFile(1)];
    });
    expect(renamed.message).toContain(
      `/models/${M}/versions/${v(3)}: the version id must be v and the first 12 hex digits of its rootDigest (${v(1)})`,
    );
  });

  it('refuses a file in the versions folder that is not a version', async () => {
    const err = await expectRefused('stray', (f) => {
      f['models.lock.d/README.md'] = 'notes\n';
      f[`models.lock.d/${M}/v2.json`] = '{}\n';
    });
    expect(err.message).toContain('models.lock.d/README.md: not a version file');
    expect(err.message).toContain(`models.lock.d/${M}/v2.json: not a version file`);
  });
});
