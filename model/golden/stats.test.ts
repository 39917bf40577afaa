import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  binomialCdf,
  clopperPearsonLower,
  formatP,
  formatPoints,
  mcnemarExact,
  pairedComparison,
  verdictSentence,
} from './stats.ts';

/** Computed with scipy (testing/golden/scipy-fixture.py says how). */
const fixture = JSON.parse(
  readFileSync(new URL('../../testing/golden/scipy-fixture.json', import.meta.url), 'utf8'),
) as {
  binomialCdf: [number, number, number, number][];
  mcnemar: [number, number, number, number][];
  clopperPearsonLower: [number, number, number, number][];
};

const close = (actual: number, expected: number, rel = 1e-9) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(1e-300, Math.abs(expected)) + 1e-15);

describe('statistics against scipy', () => {
  it.each(fixture.binomialCdf)('binomialCdf(%d, %d, %d) = scipy binom.cdf', (k, n, p, expected) => {
    close(binomialCdf(k, n, p), expected);
  });

  it.each(fixture.mcnemar)('mcnemarExact(%d, %d): p = scipy binomtest, mid-p', (b, c, p, mid) => {
    const r = mcnemarExact(b, c);
    close(r.pValue, p);
    close(r.midP, mid, 1e-8);
  });

  it.each(fixture.clopperPearsonLower)(
    'clopperPearsonLower(%d, %d, %d) = scipy beta.ppf',
    (k, m, a, expected) => {
      close(clopperPearsonLower(k, m, a), expected, 1e-9);
    },
  );

  it('rejects what is not a count', () => {
    expect(() => mcnemarExact(-1, 2)).toThrow('mcnemarExact: b must be a whole number >= 0, got -1');
    expect(() => clopperPearsonLower(3, 2, 0.05)).toThrow('need whole numbers 0 <= k <= m, got k=3, m=2');
    expect(() => clopperPearsonLower(1, 2, 1)).toThrow('alpha must be in (0, 1), got 1');
  });
});

/** n examples of 2 classes; `same` where both models agree, and b / c discordant examples of class 0. */
function predictions(n: number, b: number, c: number, wrongBoth = 0) {
  const truth = Array.from({ length: n }, (_, i) => i % 2);
  const cand = [...truth];
  const champ = [...truth];
  for (let i = 0; i < b; i++) champ[i] = 1 - (truth[i] as number);
  for (let i = b; i < b + c; i++) cand[i] = 1 - (truth[i] as number);
  for (let i = b + c; i < b + c + wrongBoth; i++) {
    cand[i] = -1;
    champ[i] = -1;
  }
  return { labels: ['a', 'b'], truth, candidate: cand, champion: champ };
}

describe('pairedComparison', () => {
  it('counts the discordant pairs, accuracies and per-class deltas', () => {
    const r = pairedComparison({ ...predictions(200, 6, 2, 4), margin: 0.01, alpha: 0.05 });
    expect([r.n, r.b, r.c]).toEqual([200, 6, 2]);
    expect(r.candidateAccuracy).toBeCloseTo((200 - 2 - 4) / 200, 12);
    expect(r.championAccuracy).toBeCloseTo((200 - 6 - 4) / 200, 12);
    expect(r.delta).toBeCloseTo(4 / 200, 12);
    close(r.mcnemar.pValue, 0.2890625); // 2 * P(Bin(8, 1/2) <= 2) = 2 * 37/256
    // Δ_L = (m/n)(2π_L − 1) with π_L = scipy beta.ppf(0.05, 6, 3)
    const piL = clopperPearsonLower(6, 8, 0.05);
    close(r.lowerBound, (8 / 200) * (2 * piL - 1));
    expect(r.notWorse).toBe(true);
    const [a, bb] = r.perClass;
    // examples 0..7 alternate classes: class a gets i = 0, 2, 4 (b) and 6 (c); class b gets 1, 3, 5 (b) and 7 (c)
    expect(a).toMatchObject({ label: 'a', n: 100, b: 3, c: 1 });
    expect(bb).toMatchObject({ label: 'b', n: 100, b: 3, c: 1 });
    expect(a?.delta).toBeCloseTo(0.02, 12);
  });

  it('identical predictions: Δ = bound = 0, p = 1; not worse by a positive margin only', () => {
    const r = pairedComparison({ ...predictions(50, 0, 0), margin: 0, alpha: 0.05 });
    expect([r.delta, r.lowerBound, r.mcnemar.pValue]).toEqual([0, 0, 1]);
    // margin 0 asks for a bound above 0: agreeing everywhere does not show that
    expect(r.notWorse).toBe(false);
    expect(pairedComparison({ ...predictions(50, 0, 0), margin: 0.01, alpha: 0.05 }).notWorse).toBe(true);
  });

  it('a candidate that breaks more than it fixes fails non-inferiority, and says so', () => {
    const r = pairedComparison({ ...predictions(400, 2, 14), margin: 0.01, alpha: 0.05 });
    expect(r.delta).toBeCloseTo(-0.03, 12);
    expect(r.lowerBound).toBeLessThan(-0.01);
    expect(r.notWorse).toBe(false);
    expect(verdictSentence(r, 'prod')).toBe(
      `not shown to be within 1 pt of prod (one-sided 95% bound ${formatPoints(r.lowerBound)}, needs above −1 pt)`,
    );
  });

  it('states the verdict as the PR comment prints it', () => {
    const r = pairedComparison({ ...predictions(1000, 12, 10), margin: 0.01, alpha: 0.05 });
    expect(r.notWorse).toBe(true);
    expect(verdictSentence(r, 'prod')).toMatch(
      /^not worse than prod by more than 1 pt \(one-sided 95% bound −0\.[0-9] pt\)$/,
    );
    expect([formatPoints(0.0123), formatPoints(-0.004), formatPoints(0.00001)]).toEqual([
      '+1.2 pt',
      '−0.4 pt',
      '±0.0 pt',
    ]);
    expect([formatP(0.28906), formatP(0.00001), formatP(1)]).toEqual(['0.289', '< 0.0001', '1']);
  });

  it('refuses predictions of another length', () => {
    expect(() =>
      pairedComparison({
        labels: ['a', 'b'],
        truth: [0, 1],
        candidate: [0],
        champion: [0, 1],
        margin: 0,
        alpha: 0.05,
      }),
    ).toThrow('pairedComparison: 2 examples but 1 candidate and 2 champion predictions');
  });
});
