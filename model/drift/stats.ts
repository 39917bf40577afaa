/**
 * The pure statistics of drift detection, shared by the server's online
 * monitor (serving/drift) and the offline report (scripts/drift.ts):
 * population stability index, the two-sample Kolmogorov-Smirnov test on
 * binned data, and Pearson's chi-square goodness-of-fit test. Every function
 * works on the FIXED bins of reference-stats.json (docs/artifact.md), so live
 * data never needs the training data.
 *
 * @see https://en.wikipedia.org/wiki/Population_stability_index
 * @see https://en.wikipedia.org/wiki/Kolmogorov%E2%80%93Smirnov_test#Two-sample_Kolmogorov%E2%80%93Smirnov_test
 * @see https://en.wikipedia.org/wiki/Pearson%27s_chi-squared_test
 * @see https://github.com/evidentlyai/evidently (stattests/psi.py: empty bins count as 0.0001)
 */

/** The share an empty bin counts as in PSI, as Evidently does (a log of 0 is undefined). */
export const PSI_EMPTY_SHARE = 0.0001;

/**
 * Index of the bin of `value` for ascending `edges` (bins + 1 of them): bin i
 * is `[edges[i], edges[i+1])`; values below the first edge go to the first
 * bin, values at or above the last edge to the last bin (training's
 * `histogram` rule). Returns -1 for NaN and infinities: not binned at all.
 */
export function binIndex(value: number, edges: readonly number[]): number {
  if (!Number.isFinite(value)) return -1;
  const bins = edges.length - 1;
  // Binary search for the last edge <= value among edges[1..bins-1].
  let lo = 0;
  let hi = bins - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (value >= edges[mid]!) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Counts → shares (sum 1); all zeros stay zeros. */
export function shares(counts: readonly number[]): number[] {
  const total = counts.reduce((s, c) => s + c, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

/**
 * Population stability index of `actual` against `expected` (both counts
 * or both shares over the same bins): `sum((a - e) * ln(a / e))`, with an
 * empty bin counted as {@link PSI_EMPTY_SHARE}. 0 is identical; under 0.1 no
 * significant change, 0.1-0.2 moderate, over 0.2 significant.
 */
export function psi(expected: readonly number[], actual: readonly number[]): number {
  if (expected.length !== actual.length) {
    throw new RangeError(`psi: ${expected.length} expected bins but ${actual.length} actual bins`);
  }
  const e = shares(expected);
  const a = shares(actual);
  let sum = 0;
  for (let i = 0; i < e.length; i++) {
    const ei = e[i]! || PSI_EMPTY_SHARE;
    const ai = a[i]! || PSI_EMPTY_SHARE;
    sum += (ai - ei) * Math.log(ai / ei);
  }
  return sum;
}

/**
 * Kolmogorov distribution tail Q(λ) = 2 Σ (-1)^(k-1) exp(-2 k² λ²): the
 * asymptotic p-value of a KS statistic (Numerical Recipes `probks`).
 */
export function kolmogorovQ(lambda: number): number {
  if (lambda < 1e-3) return 1;
  let sum = 0;
  let sign = 1;
  let previous = 0;
  for (let k = 1; k <= 100; k++) {
    const term = sign * 2 * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) <= 1e-10 * Math.abs(sum) || Math.abs(term) <= 1e-12 * previous) {
      return Math.min(1, Math.max(0, sum));
    }
    previous = Math.abs(term);
    sign = -sign;
  }
  return 1; // did not converge: only for tiny λ, where the answer is 1
}

/**
 * p-value of a two-sample KS statistic `d` for sample sizes `n` and `m`,
 * with Stephens' small-sample correction of λ (Numerical Recipes `kstwo`).
 */
export function ksPValue(d: number, n: number, m: number): number {
  if (n <= 0 || m <= 0) return 1;
  const ne = Math.sqrt((n * m) / (n + m));
  return kolmogorovQ((ne + 0.12 + 0.11 / ne) * d);
}

export interface KsResult {
  /** The largest distance between the two cumulative distributions, in [0, 1]. */
  statistic: number;
  pValue: number;
}

/**
 * Two-sample KS test on binned data: the two empirical CDFs are compared at
 * the bin edges (the reference is only known as a histogram), which gives a
 * statistic no larger than the one of the raw samples: a conservative test.
 */
export function ksBinned(reference: readonly number[], live: readonly number[]): KsResult {
  if (reference.length !== live.length) {
    throw new RangeError(`ks: ${reference.length} reference bins but ${live.length} live bins`);
  }
  const m = reference.reduce((s, c) => s + c, 0);
  const n = live.reduce((s, c) => s + c, 0);
  if (m === 0 || n === 0) return { statistic: 0, pValue: 1 };
  let cr = 0;
  let cl = 0;
  let d = 0;
  for (let i = 0; i < reference.length; i++) {
    cr += reference[i]!;
    cl += live[i]!;
    d = Math.max(d, Math.abs(cr / m - cl / n));
  }
  return { statistic: d, pValue: ksPValue(d, n, m) };
}

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularized upper incomplete gamma Q(a, x) (Numerical Recipes `gammq`). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPrefix = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    // Series for P(a, x).
    let ap = a;
    let sum = 1 / a;
    let del = sum;
    for (let i = 0; i < 1000; i++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break;
    }
    return Math.min(1, Math.max(0, 1 - sum * Math.exp(lnPrefix)));
  }
  // Continued fraction for Q(a, x) (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.min(1, Math.max(0, Math.exp(lnPrefix) * h));
}

export interface ChiSquareResult {
  statistic: number;
  degreesOfFreedom: number;
  pValue: number;
}

/**
 * Pearson's chi-square goodness of fit of `observed` counts against the
 * `expected` distribution (counts or shares; scaled to the observed total).
 * A class the reference never saw counts as {@link PSI_EMPTY_SHARE} of it.
 */
export function chiSquare(expected: readonly number[], observed: readonly number[]): ChiSquareResult {
  if (expected.length !== observed.length) {
    throw new RangeError(`chi-square: ${expected.length} expected classes but ${observed.length} observed`);
  }
  const n = observed.reduce((s, c) => s + c, 0);
  const degreesOfFreedom = Math.max(1, expected.length - 1);
  if (n === 0) return { statistic: 0, degreesOfFreedom, pValue: 1 };
  const e = shares(expected);
  let statistic = 0;
  for (let i = 0; i < e.length; i++) {
    const want = (e[i]! || PSI_EMPTY_SHARE) * n;
    statistic += (observed[i]! - want) ** 2 / want;
  }
  return { statistic, degreesOfFreedom, pValue: gammaQ(degreesOfFreedom / 2, statistic / 2) };
}
