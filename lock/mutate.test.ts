import { describe, expect, it } from '@jest/globals';
import { stableStringify } from '../platform/json.ts';
import { fakeFiles, makeEntry, fakeVersion as v } from '../testing/lock/fixtures.ts';
import { emptyLock } from './io.ts';
import {
  addCandidate,
  appendOnlyProblems,
  pinnedImage,
  pinVersion,
  previousPin,
  previousRecord,
} from './mutate.ts';
import { validateLock } from './schema.ts';
import type { Lock } from './types.ts';

const M = 'demo-classifier';
const at = (n: number) => `2026-03-0${n}T00:00:00.000Z`;

function withVersions(n: number): Lock {
  let lock = emptyLock();
  for (let i = 1; i <= n; i++) lock = addCandidate(lock, { model: M, entry: makeEntry(fakeFiles(i)) }).lock;
  return lock;
}

describe('addCandidate', () => {
  it('names a version by v and the first 12 hex digits of its root digest, and creates the model', () => {
    const first = makeEntry(fakeFiles(1));
    const a = addCandidate(emptyLock(), { model: M, entry: first });
    expect(a.version).toBe(`v${first.rootDigest.slice(0, 12)}`);
    expect(a.version).toMatch(/^v[0-9a-f]{12}$/);
    const b = addCandidate(a.lock, { model: M, entry: makeEntry(fakeFiles(2)) });
    expect(b.version).toBe(v(2));
    expect(Object.keys(b.lock.models[M]?.versions ?? {}).sort()).toEqual([v(1), v(2)].sort());
    expect(b.lock.models[M]?.pins).toEqual({});
    expect(b.lock.models[M]?.promotions).toEqual([]);
    expect(validateLock(b.lock, 'lock')).toEqual(b.lock);
  });

  it('gives the same id on two branches that add the same artifact, and different ids to different ones, with no coordination', () => {
    const base = withVersions(3);
    const onA = addCandidate(base, { model: M, entry: makeEntry(fakeFiles(4)) });
    const onB = addCandidate(base, { model: M, entry: makeEntry(fakeFiles(5)) });
    expect(onA.version).not.toBe(onB.version);
    expect(addCandidate(base, { model: M, entry: makeEntry(fakeFiles(4)) }).version).toBe(onA.version);
  });

  it('refuses, never silently, a different artifact whose root digest shares the first 12 hex digits', () => {
    const lock = withVersions(1);
    const m = lock.models[M]!;
    const real = m.versions[v(1)]!;
    // Forge the same id for another entry by moving the existing one under the new artifact's id.
    const other = makeEntry(fakeFiles(2));
    delete m.versions[v(1)];
    m.versions[v(2)] = real;
    expect(() => addCandidate(lock, { model: M, entry: other })).toThrow(
      expect.objectContaining({
        code: 'CONFLICT',
        message: expect.stringContaining(`starts with the same 12 hex digits`),
      }),
    );
  });

  it('does not modify its input', () => {
    const lock = withVersions(1);
    const before = stableStringify(lock);
    addCandidate(lock, { model: M, entry: makeEntry(fakeFiles(2)) });
    expect(stableStringify(lock)).toBe(before);
  });

  it('refuses a duplicate version (same artifact root digest) naming the existing one', () => {
    const lock = withVersions(2);
    expect(() =>
      addCandidate(lock, { model: M, entry: makeEntry(fakeFiles(2), { artifactUri: 'elsewhere' }) }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFLICT',
        message: expect.stringContaining(
          `model "demo-classifier" already has version ${v(2)} with root digest`,
        ),
      }),
    );
  });

  it('refuses an invalid entry, naming each field, and a bad model name', () => {
    const entry = { ...makeEntry(fakeFiles(1)), rootDigest: 'nope' };
    expect(() => addCandidate(emptyLock(), { model: M, entry })).toThrow(
      /candidate version of model "demo-classifier" is invalid:\n {2}- \/rootDigest: must match pattern/,
    );
    expect(() =>
      addCandidate(emptyLock(), { model: 'Demo Classifier', entry: makeEntry(fakeFiles(1)) }),
    ).toThrow(/model name "Demo Classifier" must match/);
  });
});

describe('pinVersion and previousPin', () => {
  it('moves a pin and appends a promotion record each time', () => {
    let lock = withVersions(3);
    lock = pinVersion(lock, { model: M, env: 'prod', version: v(1), at: at(1) });
    lock = pinVersion(lock, {
      model: M,
      env: 'prod',
      version: v(3),
      at: at(2),
      by: 'alice',
      commit: 'b'.repeat(40),
    });
    lock = pinVersion(lock, { model: M, env: 'qa-eu', version: v(2), at: at(3) });
    expect(lock.models[M]?.pins).toEqual({ prod: v(3), 'qa-eu': v(2) });
    expect(lock.models[M]?.promotions).toEqual([
      { env: 'prod', from: null, to: v(1), at: at(1) },
      { env: 'prod', from: v(1), to: v(3), at: at(2), by: 'alice', commit: 'b'.repeat(40) },
      { env: 'qa-eu', from: null, to: v(2), at: at(3) },
    ]);
    expect(validateLock(lock, 'lock')).toEqual(lock);
    expect(previousPin(lock, M, 'prod')).toBe(v(1));
    expect(previousPin(lock, M, 'qa-eu')).toBeUndefined();
    expect(previousPin(lock, M, 'staging')).toBeUndefined();
  });

  it('a rollback is a promotion record too, and rolling back twice toggles', () => {
    let lock = withVersions(2);
    lock = pinVersion(lock, { model: M, env: 'prod', version: v(1), at: at(1) });
    lock = pinVersion(lock, { model: M, env: 'prod', version: v(2), at: at(2) });
    lock = pinVersion(lock, {
      model: M,
      env: 'prod',
      version: previousPin(lock, M, 'prod') as string,
      at: at(3),
    });
    expect(lock.models[M]?.pins.prod).toBe(v(1));
    expect(lock.models[M]?.promotions.at(-1)).toEqual({ env: 'prod', from: v(2), to: v(1), at: at(3) });
    expect(previousPin(lock, M, 'prod')).toBe(v(2));
  });

  it('pinning the version already pinned changes nothing', () => {
    const lock = pinVersion(withVersions(1), { model: M, env: 'dev', version: v(1), at: at(1) });
    expect(pinVersion(lock, { model: M, env: 'dev', version: v(1), at: at(2) })).toBe(lock);
  });

  it('refuses a version that does not exist, listing those that do', () => {
    expect(() =>
      pinVersion(withVersions(2), { model: M, env: 'prod', version: 'vaaaaaaaaaaaa', at: at(1) }),
    ).toThrow(
      expect.objectContaining({
        code: 'NOT_FOUND',
        message: expect.stringContaining(
          `model "demo-classifier" has no version "vaaaaaaaaaaaa" to pin for prod (versions: ${[v(1), v(2)].sort().join(', ')})`,
        ),
      }),
    );
  });

  it('refuses an unknown model and a bad environment name', () => {
    expect(() =>
      pinVersion(withVersions(1), { model: 'other', env: 'prod', version: v(1), at: at(1) }),
    ).toThrow('no model "other" in the lock (models: demo-classifier)');
    expect(() => pinVersion(withVersions(1), { model: M, env: 'Prod', version: v(1), at: at(1) })).toThrow(
      /environment name "Prod" must match/,
    );
  });
});

describe('images in promotion records', () => {
  const img = (n: number) => `ghcr.io/acme/model-server@sha256:${String(n).repeat(64)}`;

  it('records the image, moves it alone for the same version, and is unchanged when both are the same', () => {
    let lock = pinVersion(withVersions(2), { model: M, env: 'dev', version: v(1), at: at(1), image: img(1) });
    expect(pinnedImage(lock, M, 'dev')).toBe(img(1));
    lock = pinVersion(lock, { model: M, env: 'dev', version: v(1), at: at(2), image: img(2) });
    expect(lock.models[M]?.promotions.at(-1)).toEqual({
      env: 'dev',
      from: v(1),
      to: v(1),
      at: at(2),
      image: img(2),
    });
    expect(validateLock(lock, 'lock')).toEqual(lock);
    expect(pinVersion(lock, { model: M, env: 'dev', version: v(1), at: at(3), image: img(2) })).toBe(lock);
    expect(pinVersion(lock, { model: M, env: 'dev', version: v(1), at: at(3) })).toBe(lock);
  });

  it('a rollback returns to the state before the latest record: its version and its image', () => {
    let lock = pinVersion(withVersions(2), {
      model: M,
      env: 'prod',
      version: v(1),
      at: at(1),
      image: img(1),
    });
    expect(previousRecord(lock, M, 'prod')).toBeUndefined();
    lock = pinVersion(lock, { model: M, env: 'prod', version: v(2), at: at(2), image: img(2) });
    lock = pinVersion(lock, { model: M, env: 'prod', version: v(2), at: at(3), image: img(3) });
    expect(previousRecord(lock, M, 'prod')).toMatchObject({ to: v(2), image: img(2) });
    expect(pinnedImage(lock, M, 'staging')).toBeUndefined();
  });

  it('refuses a malformed image in a record', () => {
    const lock = pinVersion(withVersions(1), {
      model: M,
      env: 'dev',
      version: v(1),
      at: at(1),
      image: 'Not An Image',
    });
    expect(() => validateLock(lock, 'lock')).toThrow(/\/promotions\/0\/image: must match pattern/);
  });
});

describe('appendOnlyProblems', () => {
  it('reports edited versions and rewritten history', () => {
    const before = pinVersion(withVersions(2), { model: M, env: 'prod', version: v(1), at: at(1) });
    const after = structuredClone(before);
    const m = after.models[M];
    if (!m?.versions[v(1)] || !m.promotions[0]) throw new Error('fixture');
    m.versions[v(1)]!.metrics.accuracy = 1;
    m.promotions[0].by = 'mallory';
    delete m.versions[v(2)];
    expect(appendOnlyProblems(before, after)).toEqual([
      `model "demo-classifier" version ${v(1)} was changed (versions are immutable)`,
      `model "demo-classifier" version ${v(2)} was removed`,
      'model "demo-classifier" promotion record 0 was changed or removed (the history is append-only)',
    ]);
    expect(
      appendOnlyProblems(before, pinVersion(before, { model: M, env: 'dev', version: v(2), at: at(2) })),
    ).toEqual([]);
  });
});
