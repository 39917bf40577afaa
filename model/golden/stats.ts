/**
 * Paired comparison of two classifiers on the same examples (the golden set):
 * McNemar's exact test on the discordant pairs, an exact one-sided lower
 * confidence bound of the accuracy difference, and per-class deltas. Pure
 * arithmetic, no dependency: promote.ts evaluates it without TensorFlow.
 *
 * Notation: b = examples the candidate gets right and the champion wrong,
 * c = the reverse, m = b + c (discordant pairs), n = all examples.
 * Δ = accuracy(candidate) − accuracy(champion) = (b − c) / n.
 *
 * - McNemar's exact test (conditional): under H0 (no difference) b ~ Bin(m, ½);
 *   the two-sided p-value is min(1, 2·P(X ≤ min(b, c))), as statsmodels'
 *   `mcnemar(exact=True)` and scipy's `binomtest(b, m, 0.5)` compute it. The
 *   mid-p value (that minus P(X = min(b, c))) is given beside it.
 * - Lower bound of Δ: conditional on m, b ~ Bin(m, π) with Δ = (m/n)(2π − 1);
 *   the one-sided (1 − α) Clopper–Pearson lower bound π_L of π gives
 *   Δ_L = (m/n)(2π_L − 1). Exact given m (the discordant share m/n is taken as
 *   observed). m = 0: the models agree on every example, Δ = Δ_L = 0.
 * - Non-inferiority by margin δ: the candidate is "not worse" when Δ_L > −δ,
 *   a one-sided test of H0: Δ ≤ −δ at level α.
 *
 * @see https://en.wikipedia.org/wiki/McNemar%27s_test#Variations
 * @see https://en.wikipedia.org/wiki/Binomial_proportion_confidence_interval#Clopper%E2%80%93Pearson_interval
 */
import { type GoldenEvaluation, pairWithChampion } from './format.ts';

/** P(X ≤ k) for X ~ Bin(n, p), summed in log space (exact to ~1e-12 relative for n up to millions). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (!Number.isInteger(n) || n < 0)
    throw new RangeError(`binomialCdf: n must be a whole number >= 0, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`binomialCdf: p must be in [0, 1], got ${p}`);
  if (k < 0) return 0;
  if (k >= n) return 1;
  const kk = Math.floor(k);
  if (p === 0) return 1;
  if (p === 1) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  // log C(n, i), built up term by term; terms summed relative to the largest for stability.
  const logs: number[] = [];
  let lc = 0;
  for (let i = 0; i <= kk; i++) {
    if (i > 0) lc += Math.log(n - i + 1) - Math.log(i);
    logs.push(lc + i * lp + (n - i) * lq);
  }
  const max = Math.max(...logs);
  let sum = 0;
  for (const l of logs) sum += Math.exp(l - max);
  return Math.min(1, Math.exp(max + Math.log(sum)));
}

/** P(X = k) for X ~ Bin(n, p). */
export function binomialPmf(k: number, n: number, p: number): number {
  if (k < 0 || k > n) return 0;
  return binomialCdf(k, n, p) - binomialCdf(k - 1, n, p);
}

export interface McNemarResult {
  b: number;
  c: number;
  /** Exact two-sided (conditional) p-value. */
  pValue: number;
  /** Mid-p variant: less conservative. */
  midP: number;
}

/** McNemar's exact test on the discordant counts b and c. */
export function mcnemarExact(b: number, c: number): McNemarResult {
  for (const [name, v] of [
    ['b', b],
    ['c', c],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`mcnemarExact: ${name} must be a whole number >= 0, got ${v}`);
  }
  const m = b + c;
  if (m === 0) return { b, c, pValue: 1, midP: 1 };
  const low = Math.min(b, c);
  const tail = binomialCdf(low, m, 0.5);
  const pValue = Math.min(1, 2 * tail);
  const midP = Math.min(1, 2 * tail - binomialPmf(low, m, 0.5));
  return { b, c, pValue, midP };
}

/**
 * One-sided (1 − alpha) Clopper–Pearson lower bound of a binomial proportion
 * with k successes in m trials: the π where P(X ≥ k | m, π) = alpha (0 when
 * k = 0), found by bisection; equals scipy's `beta.ppf(alpha, k, m - k + 1)`.
 */
export function clopperPearsonLower(k: number, m: number, alpha: number): number {
  if (!(alpha > 0 && alpha < 1))
    throw new RangeError(`clopperPearsonLower: alpha must be in (0, 1), got ${alpha}`);
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 0 || k > m) {
    throw new RangeError(`clopperPearsonLower: need whole numbers 0 <= k <= m, got k=${k}, m=${m}`);
  }
  if (k === 0) return 0;
  // P(X ≥ k | π) = 1 − cdf(k − 1) grows with π: bisect until the interval is below float resolution.
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (1 - binomialCdf(k - 1, m, mid) < alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** One class of the per-class comparison: examples whose true class it is. */
export interface ClassDelta {
  label: string;
  /** Examples of this class. */
  n: number;
  /** Recall (share right) of the champion and of the candidate. */
  champion: number;
  candidate: number;
  /** candidate − champion. */
  delta: number;
  /** Fixed by the candidate (champion wrong, candidate right). */
  b: number;
  /** Broken by the candidate (champion right, candidate wrong). */
  c: number;
}

export interface PairedComparison {
  n: number;
  championAccuracy: number;
  candidateAccuracy: number;
  /** candidate − champion. */
  delta: number;
  /** Candidate right, champion wrong. */
  b: number;
  /** Candidate wrong, champion right. */
  c: number;
  mcnemar: McNemarResult;
  alpha: number;
  margin: number;
  /** One-sided (1 − alpha) lower bound of delta (see the module comment). */
  lowerBound: number;
  /** lowerBound > −margin: significantly not worse by more than the margin. */
  notWorse: boolean;
  perClass: ClassDelta[];
}

export interface PairedInput {
  labels: readonly string[];
  /** True class index per example. */
  truth: readonly number[];
  /** Predicted class index per example (−1: a class the model does not know). */
  candidate: readonly number[];
  champion: readonly number[];
  margin: number;
  alpha: number;
}

/** Compare two sets of predictions on the same examples; see the module comment for the method. */
export function pairedComparison(input: PairedInput): PairedComparison {
  const { labels, truth, candidate, champion, margin, alpha } = input;
  const n = truth.length;
  if (candidate.length !== n || champion.length !== n) {
    throw new RangeError(
      `pairedComparison: ${n} examples but ${candidate.length} candidate and ${champion.length} champion predictions`,
    );
  }
  if (n === 0) throw new RangeError('pairedComparison: no examples');
  if (!(margin >= 0)) throw new RangeError(`pairedComparison: margin must be >= 0, got ${margin}`);
  const perClass = labels.map((label) => ({ label, n: 0, rightA: 0, rightB: 0, b: 0, c: 0 }));
  let rightCand = 0;
  let rightChamp = 0;
  let b = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const t = truth[i] as number;
    const k = perClass[t];
    if (!k)
      throw new RangeError(
        `pairedComparison: example ${i} has class ${t}, but there are ${labels.length} labels`,
      );
    const okCand = candidate[i] === t;
    const okChamp = champion[i] === t;
    k.n++;
    if (okCand) {
      rightCand++;
      k.rightA++;
    }
    if (okChamp) {
      rightChamp++;
      k.rightB++;
    }
    if (okCand && !okChamp) {
      b++;
      k.b++;
    } else if (!okCand && okChamp) {
      c++;
      k.c++;
    }
  }
  const m = b + c;
  const lowerBound = m === 0 ? 0 : (m / n) * (2 * clopperPearsonLower(b, m, alpha) - 1);
  const ratio = (x: number, y: number) => (y === 0 ? 0 : x / y);
  return {
    n,
    championAccuracy: rightChamp / n,
    candidateAccuracy: rightCand / n,
    delta: (b - c) / n,
    b,
    c,
    mcnemar: mcnemarExact(b, c),
    alpha,
    margin,
    lowerBound,
    // A hair of tolerance so that a bound of exactly −margin (float rounding) is not taken as above it.
    notWorse: lowerBound > -margin + 1e-12,
    perClass: perClass.map((k) => ({
      label: k.label,
      n: k.n,
      champion: ratio(k.rightB, k.n),
      candidate: ratio(k.rightA, k.n),
      delta: ratio(k.rightA, k.n) - ratio(k.rightB, k.n),
      b: k.b,
      c: k.c,
    })),
  };
}

/** A share as percentage points with one decimal and a sign: `+1.2 pt`, `−0.4 pt`, `±0.0 pt`. */
export function formatPoints(x: number): string {
  const v = Math.abs(x * 100).toFixed(1);
  if (Number(v) === 0) return `±${v} pt`;
  return `${x > 0 ? '+' : '−'}${v} pt`;
}

/** A p-value with 3 significant digits, or `< 0.0001`. */
export function formatP(p: number): string {
  if (p < 1e-4) return '< 0.0001';
  return String(Number(p.toPrecision(3)));
}

/**
 * The verdict sentence of a comparison, e.g. "not worse than prod by more
 * than 1 pt (one-sided 95% bound −0.4 pt)".
 */
export function verdictSentence(r: PairedComparison, vs: string): string {
  const level = `${Number(((1 - r.alpha) * 100).toFixed(2))}%`;
  const margin = `${Number((r.margin * 100).toFixed(2))} pt`;
  const bound = `one-sided ${level} bound ${formatPoints(r.lowerBound)}`;
  return r.notWorse
    ? `not worse than ${vs} by more than ${margin} (${bound})`
    : `not shown to be within ${margin} of ${vs} (${bound}, needs above −${margin})`;
}

/** A candidate paired with the champion on the golden set, or why it cannot be. */
export type ChampionComparison = { ok: true; result: PairedComparison } | { ok: false; problem: string };

/**
 * The candidate's golden.json against the version `pinned` (its predictions
 * from the candidate's run, or `pinnedOwn`: the champion's own golden.json),
 * compared at the gate's margin and level. The one comparison the PR comment
 * and the pairedNonInferiority gate both show.
 */
export function compareWithChampion(
  candidate: GoldenEvaluation,
  pinned: string,
  policy: { margin: number; alpha: number },
  pinnedOwn?: GoldenEvaluation,
): ChampionComparison {
  const pairing = pairWithChampion(candidate, pinned, pinnedOwn);
  if (!pairing.ok) return pairing;
  return {
    ok: true,
    result: pairedComparison({
      labels: candidate.labels,
      truth: candidate.truth,
      candidate: candidate.predicted,
      champion: pairing.predicted,
      margin: policy.margin,
      alpha: policy.alpha,
    }),
  };
}
