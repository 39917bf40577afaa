import { readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stableStringify } from '../platform/json.ts';
import { fakeFiles, makeEntry, tempDir, fakeVersion as v, writeFileDeep } from '../testing/lock/fixtures.ts';
import { versionFileOf } from './files.ts';
import { emptyLock, readLock, writeLock } from './io.ts';
import { addCandidate, pinVersion } from './mutate.ts';
import { lockFileOf, updateLock } from './update.ts';

const M = 'demo-classifier';
let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function freshLock(): Promise<string> {
  const path = join(dir, `models-${++n}.lock.json`);
  await writeLock(path, emptyLock());
  return path;
}

describe('updateLock', () => {
  it('two concurrent updates both apply: the second waits for the lock file and applies on top', async () => {
    const path = await freshLock();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const versions: string[] = [];
    let entered: () => void = () => undefined;
    const holding = new Promise<void>((r) => {
      entered = r;
    });
    const first = updateLock(path, async (lock) => {
      entered();
      await gate; // hold the lock file while the second update starts
      const r = addCandidate(lock, { model: M, entry: makeEntry(fakeFiles(1)) });
      versions.push(r.version);
      return r.lock;
    });
    await holding; // the first holds the lock file now (started together, either could win it)
    const second = updateLock(
      path,
      (lock) => {
        const r = addCandidate(lock, { model: M, entry: makeEntry(fakeFiles(2)) });
        versions.push(r.version);
        return r.lock;
      },
      { pollMs: 5 },
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(versions).toEqual([]); // the second is waiting, not reading a stale copy
    release();
    await Promise.all([first, second]);
    expect(versions).toEqual([v(1), v(2)]);
    const lock = await readLock(path);
    expect(Object.keys(lock.models[M]?.versions ?? {}).sort()).toEqual([v(1), v(2)].sort());
    expect(lock.models[M]?.versions[v(2)]?.rootDigest).toBe(makeEntry(fakeFiles(2)).rootDigest);
    await expect(readFile(lockFileOf(path))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gives CONFLICT when another writer holds the lock file longer than the wait, leaving the file alone', async () => {
    const path = await freshLock();
    const before = await readFile(path, 'utf8');
    await writeFile(lockFileOf(path), JSON.stringify({ pid: 4242, host: 'runner-7', at: 'now' }));
    await expect(
      updateLock(path, (l) => addCandidate(l, { model: M, entry: makeEntry(fakeFiles(1)) }).lock, {
        waitMs: 0,
      }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining(
        `${path} is being written by another process (lock file ${lockFileOf(path)}: pid 4242 on runner-7`,
      ),
    });
    expect(await readFile(path, 'utf8')).toBe(before);
    await rm(lockFileOf(path));
  });

  it('breaks a stale lock file left by a crashed writer', async () => {
    const path = await freshLock();
    await writeFile(lockFileOf(path), '{"pid": 1}');
    const old = new Date(Date.now() - 120_000);
    await utimes(lockFileOf(path), old, old);
    const r = await updateLock(
      path,
      (l) => addCandidate(l, { model: M, entry: makeEntry(fakeFiles(1)) }).lock,
      {
        waitMs: 0,
        staleMs: 60_000,
      },
    );
    expect(r.changed).toBe(true);
    expect(Object.keys((await readLock(path)).models)).toEqual([M]);
  });

  it('gives CONFLICT when the index changes on disk between read and write, keeping the other change', async () => {
    const path = await freshLock();
    await updateLock(path, (l) => addCandidate(l, { model: M, entry: makeEntry(fakeFiles(1)) }).lock);
    const other = '{ "lockfileVersion": 2, "models": {} }\n';
    await expect(
      updateLock(path, async (lock) => {
        await writeFile(path, other); // e.g. a `git checkout` or an editor saving the file
        return pinVersion(lock, { model: M, env: 'dev', version: v(1), at: '2026-01-01T00:00:00.000Z' });
      }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining(
        `${path} changed on disk while it was being updated; nothing was written\n  → retry`,
      ),
    });
    expect(await readFile(path, 'utf8')).toBe(other);
  });

  it('adds a candidate as a new file without rewriting the index', async () => {
    const path = await freshLock();
    const index = await readFile(path, 'utf8');
    const r = await updateLock(
      path,
      (l) => addCandidate(l, { model: M, entry: makeEntry(fakeFiles(4)) }).lock,
    );
    expect(r.changed).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(index);
    expect(JSON.parse(await readFile(versionFileOf(path, M, v(4)), 'utf8'))).toEqual(makeEntry(fakeFiles(4)));
  });

  it('gives CONFLICT when another file of the same version appears meanwhile, and never overwrites it', async () => {
    const path = await freshLock();
    const file = versionFileOf(path, M, v(5));
    const theirs = stableStringify(makeEntry(fakeFiles(5), { artifactUri: 'theirs' }));
    await expect(
      updateLock(path, async (lock) => {
        await writeFileDeep(file, theirs);
        return addCandidate(lock, { model: M, entry: makeEntry(fakeFiles(5)) }).lock;
      }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining(
        `${file} exists with other content; a version file is never rewritten`,
      ),
    });
    expect(await readFile(file, 'utf8')).toBe(theirs);
  });

  it('refuses an invalid result and a rewritten history, leaving the file byte-identical', async () => {
    const path = await freshLock();
    await updateLock(path, (l) => {
      const a = addCandidate(l, { model: M, entry: makeEntry(fakeFiles(1)) }).lock;
      return pinVersion(a, { model: M, env: 'prod', version: v(1), at: '2026-01-01T00:00:00.000Z' });
    });
    const before = await readFile(path, 'utf8');
    await expect(
      updateLock(path, (l) => {
        (l.models[M] as { pins: Record<string, string> }).pins.dev = 'vaaaaaaaaaaaa';
        return l;
      }),
    ).rejects.toThrow(
      /after the update\) is inconsistent:\n {2}- \/models\/demo-classifier\/pins\/dev: pins version "vaaaaaaaaaaaa"/,
    );
    await expect(
      updateLock(path, (l) => {
        (l.models[M] as { promotions: unknown[] }).promotions = [];
        delete (l.models[M] as { pins: Record<string, string> }).pins.prod;
        return l;
      }),
    ).rejects.toThrow(
      'model "demo-classifier" promotion record 0 was changed or removed (the history is append-only)',
    );
    expect(await readFile(path, 'utf8')).toBe(before);
    await expect(readFile(lockFileOf(path))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('does not rewrite the file when nothing changed', async () => {
    const path = await freshLock();
    const r = await updateLock(path, (l) => l);
    expect(r.changed).toBe(false);
  });
});
