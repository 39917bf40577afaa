import { describe, expect, test } from '@jest/globals';
import {
  binIndex,
  chiSquare,
  gammaQ,
  kolmogorovQ,
  ksBinned,
  ksPValue,
  PSI_EMPTY_SHARE,
  psi,
} from './stats.ts';

describe('binIndex', () => {
  const edges = [0, 0.25, 0.5, 0.75, 1];
  test('bins [edges[i], edges[i+1]) with out-of-range values in the end bins', () => {
    expect([0, 0.1, 0.25, 0.5, 0.74, 0.75, 1, 2, -1].map((v) => binIndex(v, edges))).toEqual([
      0, 0, 1, 2, 2, 3, 3, 3, 0,
    ]);
  });
  test('NaN and infinities are not binned', () => {
    expect(
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map((v) => binIndex(v, edges)),
    ).toEqual([-1, -1, -1]);
  });
});

describe('psi', () => {
  test('is 0 for the same distribution, counts or shares', () => {
    expect(psi([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 12);
  });
  test('matches the formula sum((a - e) ln(a / e))', () => {
    const e = [0.5, 0.5];
    const a = [0.8, 0.2];
    expect(psi(e, a)).toBeCloseTo(0.3 * Math.log(0.8 / 0.5) + -0.3 * Math.log(0.2 / 0.5), 12);
  });
  test('an empty bin counts as 0.0001, as Evidently does', () => {
    const want = (0.5 - PSI_EMPTY_SHARE) * Math.log(0.5 / PSI_EMPTY_SHARE) + (0.5 - 1) * Math.log(0.5 / 1);
    expect(psi([0, 1], [1, 1])).toBeCloseTo(want, 10);
  });
  test('different bin counts are an error', () => {
    expect(() => psi([1], [1, 2])).toThrow('psi: 1 expected bins but 2 actual bins');
  });
});

describe('Kolmogorov-Smirnov', () => {
  test('Q(1.358) is the 5% critical value', () => {
    expect(kolmogorovQ(1.358)).toBeCloseTo(0.05, 3);
    expect(kolmogorovQ(0)).toBe(1);
  });
  test('p-value falls as D grows and as the samples grow', () => {
    expect(ksPValue(0.2, 100, 100)).toBeLessThan(ksPValue(0.1, 100, 100));
    expect(ksPValue(0.1, 1000, 1000)).toBeLessThan(ksPValue(0.1, 100, 100));
  });
  test('binned D is the largest CDF distance at the edges', () => {
    const r = ksBinned([50, 50, 0, 0], [0, 50, 50, 0]);
    expect(r.statistic).toBeCloseTo(0.5, 12);
    expect(r.pValue).toBeLessThan(1e-6);
    expect(ksBinned([1, 2, 3], [10, 20, 30])).toEqual({ statistic: 0, pValue: 1 });
  });
  test('an empty side gives no evidence', () => {
    expect(ksBinned([0, 0], [1, 2])).toEqual({ statistic: 0, pValue: 1 });
  });
});

describe('chi-square', () => {
  test('upper incomplete gamma gives textbook critical values', () => {
    // chi-square 5% critical values: df 1 → 3.841, df 3 → 7.815, df 10 → 18.307
    expect(gammaQ(0.5, 3.841 / 2)).toBeCloseTo(0.05, 3);
    expect(gammaQ(1.5, 7.815 / 2)).toBeCloseTo(0.05, 3);
    expect(gammaQ(5, 18.307 / 2)).toBeCloseTo(0.05, 3);
  });
  test('observed counts matching the expected shares are not significant', () => {
    const r = chiSquare([0.25, 0.25, 0.25, 0.25], [25, 25, 25, 25]);
    expect(r).toEqual({ statistic: 0, degreesOfFreedom: 3, pValue: 1 });
  });
  test('a shifted class mix is', () => {
    const r = chiSquare([25, 25, 25, 25], [70, 10, 10, 10]);
    expect(r.statistic).toBeCloseTo((45 ** 2 + 3 * 15 ** 2) / 25, 10);
    expect(r.pValue).toBeLessThan(1e-10);
  });
});
