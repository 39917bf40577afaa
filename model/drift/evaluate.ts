/**
 * Drift of a window against the reference: per input feature PSI and KS,
 * predicted classes by PSI and chi-square, and mean confidence. Thresholds
 * default to Evidently's: PSI 0.1, KS and chi-square p-value 0.05; below
 * `minSamples` observations nothing is scored (no false alarm on a quiet
 * window).
 *
 * @see https://docs.evidentlyai.com/metrics/customize_data_drift (default tests and thresholds)
 */
import type { ReferenceStats } from './reference.ts';
import { chiSquare, ksBinned, psi } from './stats.ts';
import type { WindowCounts } from './window.ts';

export interface DriftThresholds {
  /** A PSI at or over this is drift (Evidently default 0.1; 0.2 is "significant"). */
  psi: number;
  /** A KS p-value under this is drift (default 0.05). */
  ksPValue: number;
  /** A chi-square p-value under this is drift of the predicted classes (default 0.05). */
  chiSquarePValue: number;
  /** Fewer observations than this: no score (default 100). */
  minSamples: number;
}

export const DEFAULT_DRIFT_THRESHOLDS: Readonly<DriftThresholds> = Object.freeze({
  psi: 0.1,
  ksPValue: 0.05,
  chiSquarePValue: 0.05,
  minSamples: 100,
});

export interface FeatureDrift {
  feature: string;
  samples: number;
  /** null when the window has fewer than minSamples finite values of this feature. */
  psi: number | null;
  ks: number | null;
  ksPValue: number | null;
  drifted: boolean;
  mean: number | null;
  referenceMean: number;
  edges: number[];
  counts: number[];
  referenceCounts: number[];
}

export interface PredictionDrift {
  samples: number;
  labels: string[];
  classCounts: number[];
  referenceDistribution: number[];
  psi: number | null;
  chiSquare: number | null;
  chiSquarePValue: number | null;
  drifted: boolean;
  meanConfidence: number | null;
  referenceMeanConfidence: number;
  confidenceCounts: number[];
  referenceConfidenceCounts: number[];
  confidenceEdges: number[];
}

export interface DriftResult {
  samples: number;
  /** True when at least one score was computed (enough samples). */
  scored: boolean;
  thresholds: DriftThresholds;
  features: FeatureDrift[];
  predictions: PredictionDrift;
  /** Names of drifted features, plus `predictions` when the class mix drifted. */
  drifted: string[];
  /** Observations skipped because a value was NaN or infinite. */
  nonFinite: number;
}

const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 1e6) / 1e6);

/** Score `window` against `reference` with `thresholds` (defaults: {@link DEFAULT_DRIFT_THRESHOLDS}). */
export function evaluateDrift(
  reference: ReferenceStats,
  window: WindowCounts,
  thresholds: Partial<DriftThresholds> = {},
): DriftResult {
  const t: DriftThresholds = { ...DEFAULT_DRIFT_THRESHOLDS, ...thresholds };
  const features: FeatureDrift[] = Object.keys(window.features)
    .sort()
    .map((feature) => {
      const live = window.features[feature]!;
      const ref = reference.inputs.features[feature]!;
      const enough = live.samples >= t.minSamples;
      const p = enough ? psi(ref.counts, live.counts) : null;
      const ks = enough ? ksBinned(ref.counts, live.counts) : null;
      return {
        feature,
        samples: live.samples,
        psi: round(p),
        ks: round(ks?.statistic ?? null),
        ksPValue: round(ks?.pValue ?? null),
        drifted: enough && (p! >= t.psi || ks!.pValue < t.ksPValue),
        mean: live.samples > 0 ? round(live.sum / live.samples) : null,
        referenceMean: ref.mean,
        edges: ref.edges,
        counts: live.counts,
        referenceCounts: ref.counts,
      };
    });
  const pr = window.predictions;
  const refPred = reference.predictions;
  const enough = pr.samples >= t.minSamples;
  const expected = refPred.classCounts.some((c) => c > 0) ? refPred.classCounts : refPred.classDistribution;
  const p = enough ? psi(expected, pr.classCounts) : null;
  // Chi-square is unreliable with tiny expected counts (a class the reference never predicted
  // would make one live prediction "significant"): smooth the reference with half a count per
  // class (Jeffreys prior) first.
  const total = expected.reduce((a, b) => a + b, 0);
  const smoothed = expected.map((c) => c / (total || 1) + 0.5 / Math.max(refPred.samples, 1));
  const chi = enough ? chiSquare(smoothed, pr.classCounts) : null;
  const predictions: PredictionDrift = {
    samples: pr.samples,
    labels: refPred.labels,
    classCounts: pr.classCounts,
    referenceDistribution: refPred.classDistribution,
    psi: round(p),
    chiSquare: round(chi?.statistic ?? null),
    chiSquarePValue: round(chi?.pValue ?? null),
    drifted: enough && (p! >= t.psi || chi!.pValue < t.chiSquarePValue),
    meanConfidence: enough ? round(pr.confidenceSum / pr.samples) : null,
    referenceMeanConfidence: refPred.meanConfidence,
    confidenceCounts: pr.confidenceCounts,
    referenceConfidenceCounts: refPred.confidence.counts,
    confidenceEdges: refPred.confidence.edges,
  };
  const drifted = features.filter((f) => f.drifted).map((f) => f.feature);
  if (predictions.drifted) drifted.push('predictions');
  return {
    samples: window.samples,
    scored: features.some((f) => f.psi !== null) || predictions.psi !== null,
    thresholds: t,
    features,
    predictions,
    drifted,
    nonFinite: window.nonFinite,
  };
}
