/**
 * The pairedNonInferiority gate on real artifact folders: golden.json is
 * read through platform/artifact-store (sha256-checked against the lock entry),
 * and the verdict, the "no champion" row and the different-golden-set
 * refusal are what a reviewer reads in the gate table.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type Lock, versionIdOf } from '../../lock/index.ts';
import { type GoldenEvaluation, pairedComparison } from '../../model/golden/index.ts';
import { stableStringify } from '../../platform/json.ts';
import { makeArtifact, makeEntry, tempDir } from '../../testing/lock/fixtures.ts';
import type { Gates } from './config.ts';
import { evaluateGates, formatGateTable, lockGoldenReader } from './gates.ts';

const MODEL = 'demo-classifier';
const DIGEST = `sha256:${'1'.repeat(64)}`;
const OTHER_DIGEST = `sha256:${'2'.repeat(64)}`;
const ORDER = `sha256:${'3'.repeat(64)}`;
const N = 400;
const truth = Array.from({ length: N }, (_, i) => i % 4);
const labels = ['circle', 'cross', 'square', 'triangle'];

/** Predictions right everywhere except `wrong` example indices. */
const predictionsWrongAt = (wrong: Iterable<number>) => {
  const p = [...truth];
  for (const i of wrong) p[i] = ((truth[i] as number) + 1) % 4;
  return p;
};
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

const golden = (predicted: number[], extra: Partial<GoldenEvaluation> = {}): GoldenEvaluation => ({
  goldenVersion: 1,
  name: 'shapes-golden',
  digest: DIGEST,
  orderDigest: ORDER,
  labels,
  truth,
  predicted,
  ...extra,
});

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A lock with one version per artifact spec (golden.json optional), prod pinned to the first when `pinProd`. */
async function lockOf(specs: { golden?: GoldenEvaluation }[], pinProd = true) {
  const root = await tempDir('gates-');
  dirs.push(root);
  const lock: Lock = {
    lockfileVersion: 2,
    models: { [MODEL]: { pins: {}, versions: {}, promotions: [] } },
  };
  const m = lock.models[MODEL] as Lock['models'][string];
  const ids: string[] = [];
  for (const [i, s] of specs.entries()) {
    const dir = join(root, 'artifacts', `v${i + 1}`);
    const { files, root: digest } = await makeArtifact(
      dir,
      i + 1,
      { accuracy: 0.97, macro_f1: 0.97 },
      s.golden ? { 'golden.json': stableStringify(s.golden) } : {},
    );
    const id = versionIdOf(digest);
    ids.push(id);
    m.versions[id] = makeEntry(files, { artifactUri: `artifacts/v${i + 1}` });
  }
  if (pinProd) {
    m.pins.prod = ids[0] as string;
    m.promotions.push({ env: 'prod', from: null, to: ids[0] as string, at: '2026-01-01T00:00:00.000Z' });
  }
  return { root, lock, ids };
}

const GATES: Gates = { pairedNonInferiority: [{ vs: 'prod', margin: 0.01, alpha: 0.05 }] };

async function gate(root: string, lock: Lock, version: string, gates: Gates = GATES) {
  const results = await evaluateGates({
    lock,
    model: MODEL,
    version,
    gates,
    readGolden: lockGoldenReader({ lockDir: root }),
  });
  expect(results).toHaveLength(1);
  return results[0] as NonNullable<(typeof results)[0]>;
}

describe('pairedNonInferiority', () => {
  const champ = predictionsWrongAt(range(0, 30)); // 370/400
  const expected = "golden-set accuracy >= prod's - 1 pt (one-sided 95% bound)";

  it('passes a candidate that fixes more than it breaks, with the numbers of the paired comparison', async () => {
    // the candidate fixes 0..19 (20) and breaks 100..103 (4): 386/400
    const cand = predictionsWrongAt([...range(20, 30), ...range(100, 104)]);
    // ids are content-addressed: the champion's is known before the candidate's golden.json names it
    const prodV = (await lockOf([{ golden: golden(champ) }])).ids[0] as string;
    // the candidate's golden.json carries the champion scored in the same run
    const {
      lock: lock2,
      ids: ids2,
      root: root2,
    } = await lockOf([
      { golden: golden(champ) },
      {
        golden: golden(cand, { champion: { version: prodV, rootDigest: 'a'.repeat(64), predicted: champ } }),
      },
    ]);
    expect(ids2[0]).toBe(prodV);
    const r = await gate(root2, lock2, ids2[1] as string);
    const want = pairedComparison({
      labels,
      truth,
      candidate: cand,
      champion: champ,
      margin: 0.01,
      alpha: 0.05,
    });
    expect([want.b, want.c, want.n]).toEqual([20, 4, 400]);
    expect(r).toMatchObject({ gate: 'pairedNonInferiority vs prod', expected, pass: true });
    expect(r.actual).toBe(
      `not worse than prod ${prodV} by more than 1 pt (one-sided 95% bound +${(want.lowerBound * 100).toFixed(1)} pt); Δ +4.0 pt on shapes-golden (n=400, 20 fixed / 4 broken, McNemar p=${Number(want.mcnemar.pValue.toPrecision(3))})`,
    );
    expect(r.paired?.lowerBound).toBe(want.lowerBound);
  });

  it('refuses a candidate that breaks more than the margin allows', async () => {
    // fixes 2, breaks 16: Δ = −3.5 pt
    const cand = predictionsWrongAt([...range(2, 30), ...range(200, 216)]);
    const { root, lock, ids } = await lockOf([{ golden: golden(champ) }, { golden: golden(cand) }]);
    const r = await gate(root, lock, ids[1] as string);
    expect(r.pass).toBe(false);
    expect(r.actual).toMatch(
      new RegExp(
        `^not shown to be within 1 pt of prod ${ids[0]} \\(one-sided 95% bound −[0-9.]+ pt, needs above −1 pt\\); Δ −3\\.5 pt on shapes-golden \\(n=400, 2 fixed / 16 broken, McNemar p=0\\.00[0-9]+\\)$`,
      ),
    );
    // the champion's predictions came from its own golden.json (same digest, same order)
    expect(formatGateTable([r])).toMatch(/^pairedNonInferiority vs prod +golden-set accuracy .* FAIL$/m);
  });

  it('fails with what to run when the two were scored on different golden sets', async () => {
    const cand = predictionsWrongAt(range(0, 10));
    const { root, lock, ids } = await lockOf([
      { golden: golden(champ, { digest: OTHER_DIGEST, name: 'shapes-golden-v0' }) },
      {
        golden: golden(cand, {
          championNote: 'no version of demo-classifier is pinned in prod: no champion to compare with',
        }),
      },
    ]);
    const r = await gate(root, lock, ids[1] as string);
    expect(r.pass).toBe(false);
    expect(r.actual).toBe(
      `${ids[0]} was scored on golden set shapes-golden-v0 sha256:222222222222…, the candidate on shapes-golden sha256:111111111111…: different golden sets; its run scored no champion (no version of demo-classifier is pinned in prod: no champion to compare with): train the candidate again so that its run scores prod's ${ids[0]} on the golden set (npm run ci:train on its pull request, or npm run train -- --lock models.lock.json)`,
    );
  });

  it('fails a candidate that was not scored on a golden set, and one whose golden.json was tampered with', async () => {
    const { root, lock, ids } = await lockOf([{ golden: golden(champ) }, {}, { golden: golden(champ) }]);
    const none = await gate(root, lock, ids[1] as string);
    expect(none.pass).toBe(false);
    expect(none.actual).toBe(
      `${ids[1]} was not scored on a golden set (no golden.json in its artifact): add a golden section to its training config and train it again (npm run ci:train on its pull request)`,
    );
    await writeFile(join(root, 'artifacts', 'v3', 'golden.json'), stableStringify(golden(truth)));
    const tampered = await gate(root, lock, ids[2] as string);
    expect(tampered.pass).toBe(false);
    expect(tampered.actual).toMatch(
      /^cannot read golden\.json: model demo-classifier version v[0-9a-f]{12}: .*golden\.json/,
    );
    expect(tampered.actual).toContain('sha256');
  });

  it('passes the first version with a "no champion" row when prod has no pin, and the champion itself', async () => {
    const { root, lock, ids } = await lockOf([{}], false);
    const r = await gate(root, lock, ids[0] as string);
    expect(r).toEqual({
      gate: 'pairedNonInferiority vs prod',
      expected,
      actual: 'no champion: prod has no pin yet, nothing to compare',
      pass: true,
    });
    const pinned = await lockOf([{}]);
    const self = await gate(pinned.root, pinned.lock, pinned.ids[0] as string);
    expect(self.pass).toBe(true);
    expect(self.actual).toBe(`${pinned.ids[0]} is the version prod runs (the champion itself)`);
  });

  it('is evaluated only with a golden reader (promote and retrain pass one)', async () => {
    const { lock, ids } = await lockOf([{}]);
    await expect(
      evaluateGates({ lock, model: MODEL, version: ids[0] as string, gates: GATES }),
    ).rejects.toThrow('evaluateGates: pairedNonInferiority gate without a golden reader');
  });
});
