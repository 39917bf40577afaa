import { describe, expect, it } from '@jest/globals';
import { fakeFiles, makeEntry, fakeVersion as v } from '../testing/lock/fixtures.ts';
import { diffLocks, formatDiffTable } from './diff.ts';
import { emptyLock } from './io.ts';
import { addCandidate, pinVersion } from './mutate.ts';
import { showPins } from './show.ts';
import type { Lock } from './types.ts';

const M = 'demo-classifier';
const AT = '2026-01-01T00:00:00.000Z';

function base(): Lock {
  let lock = addCandidate(emptyLock(), {
    model: M,
    entry: makeEntry(fakeFiles(1), {
      metrics: { accuracy: 0.9, macro_f1: 0.88 },
      artifactUri: 'artifacts/1',
      createdAt: '2026-01-01T00:00:00.000Z',
    }),
  }).lock;
  lock = addCandidate(lock, {
    model: M,
    entry: makeEntry(fakeFiles(2), {
      metrics: { accuracy: 0.95, macro_f1: 0.9 },
      createdAt: '2026-01-02T00:00:00.000Z',
    }),
  }).lock;
  lock = pinVersion(lock, { model: M, env: 'prod', version: v(1), at: AT });
  return pinVersion(lock, { model: M, env: 'dev', version: v(2), at: AT });
}

describe('diffLocks', () => {
  it('finds added versions, moved pins with metric deltas, and nothing when equal', () => {
    const a = base();
    let b = addCandidate(a, {
      model: M,
      entry: makeEntry(fakeFiles(3), { metrics: { accuracy: 0.97 }, createdAt: '2026-01-03T00:00:00.000Z' }),
    }).lock;
    b = pinVersion(b, { model: M, env: 'prod', version: v(2), at: AT });
    b = pinVersion(b, { model: M, env: 'staging', version: v(3), at: AT });
    const rows = diffLocks(a, b);
    expect(rows).toEqual([
      {
        kind: 'version',
        model: M,
        version: v(3),
        change: 'added',
        fields: [],
        metrics: [{ name: 'accuracy', before: null, after: 0.97, delta: null }],
      },
      {
        kind: 'pin',
        model: M,
        env: 'prod',
        change: 'pin',
        from: v(1),
        to: v(2),
        metrics: [
          { name: 'accuracy', before: 0.9, after: 0.95, delta: expect.closeTo(0.05, 10) },
          { name: 'macro_f1', before: 0.88, after: 0.9, delta: expect.closeTo(0.02, 10) },
        ],
      },
      {
        kind: 'pin',
        model: M,
        env: 'staging',
        change: 'pin',
        from: null,
        to: v(3),
        metrics: [{ name: 'accuracy', before: null, after: 0.97, delta: null }],
      },
    ]);
    expect(formatDiffTable(rows)).toBe(
      [
        'MODEL            WHAT                   CHANGE                         METRICS',
        'demo-classifier  version v73ce00be62b6  added                          accuracy 0.97',
        'demo-classifier  pin prod               v0cded29f295a → v432f2920083d  accuracy 0.9 → 0.95 (+0.05), macro_f1 0.88 → 0.9 (+0.02)',
        'demo-classifier  pin staging            (none) → v73ce00be62b6         accuracy 0.97',
        '',
      ].join('\n'),
    );
    expect(diffLocks(a, a)).toEqual([]);
    expect(formatDiffTable([])).toBe('no changes\n');
  });

  it('reports removed versions and changed fields (a hand edit of an immutable entry)', () => {
    const a = base();
    const b = structuredClone(a);
    const m = b.models[M];
    if (!m?.versions[v(2)]) throw new Error('fixture');
    m.versions[v(1)] = {
      ...(m.versions[v(1)] as NonNullable<(typeof m.versions)[string]>),
      artifactUri: 'moved/1',
    };
    m.versions[v(2)]!.metrics.accuracy = 0.5;
    const rows = diffLocks(a, b);
    expect(rows.map((r) => (r.kind === 'version' ? [r.version, r.change, r.fields] : []))).toEqual([
      [v(1), 'changed', ['artifactUri']],
      [v(2), 'changed', ['metrics']],
    ]);
    expect(formatDiffTable(rows)).toContain(
      `version ${v(2)}  changed: metrics      accuracy 0.95 → 0.5 (-0.45)`,
    );
    expect(
      diffLocks(a, emptyLock()).map(
        (r) => `${r.kind} ${r.change} ${r.kind === 'pin' ? `${r.from}→${r.to}` : r.version}`,
      ),
    ).toEqual([
      `version removed ${v(1)}`,
      `version removed ${v(2)}`,
      `pin pin ${v(2)}→null`,
      `pin pin ${v(1)}→null`,
    ]);
  });
});

describe('showPins', () => {
  it('lists each environment with its version, root digest, metrics and artifact', () => {
    const lock = addCandidate(base(), { model: 'other', entry: makeEntry(fakeFiles(7)) }).lock;
    const root1 = lock.models[M]?.versions[v(1)]?.rootDigest.slice(0, 12);
    const root2 = lock.models[M]?.versions[v(2)]?.rootDigest.slice(0, 12);
    expect(showPins(lock)).toBe(
      [
        'MODEL            ENV   VERSION        CREATED                   ROOT          METRICS                     ARTIFACT',
        `demo-classifier  dev   ${v(2)}  2026-01-02T00:00:00.000Z  ${root2}  accuracy=0.95 macro_f1=0.9  artifacts/x`,
        `demo-classifier  prod  ${v(1)}  2026-01-01T00:00:00.000Z  ${root1}  accuracy=0.9 macro_f1=0.88  artifacts/1`,
        'other            -     -                                                      1 versions, none pinned',
        '',
      ].join('\n'),
    );
    expect(showPins(emptyLock())).toBe('no models in the lock\n');
  });
});
