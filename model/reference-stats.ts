/**
 * reference-stats.json: the drift reference that serving and the drift job
 * compare live traffic against (PSI / KS). Histograms use FIXED bin edges
 * (not data-dependent quantiles), so serving can bin live values into the
 * same bins without the training data. Layout: docs/artifact.md.
 *
 * @see https://en.wikipedia.org/wiki/Population_stability_index
 */
import { type DecodedImage, imageStats } from './preprocessing.ts';

export interface Histogram {
  /** bins + 1 ascending edges; bin i is [edges[i], edges[i+1]), the last bin closed; values outside go to the end bins. */
  edges: number[];
  counts: number[];
  /** Mean of the raw values. */
  mean: number;
}

export interface ReferenceStats {
  version: 1;
  inputs: {
    split: 'train';
    samples: number;
    /** brightness, contrast, channel_mean_0.. (names as the serving_drift_score `feature` label). */
    features: Record<string, Histogram>;
  };
  predictions: {
    split: 'validation';
    samples: number;
    labels: string[];
    /** Predicted-class counts, in label order. */
    classCounts: number[];
    /** Predicted-class shares, in label order (sum 1). */
    classDistribution: number[];
    /** Histogram of the top-1 probability. */
    confidence: Histogram;
    meanConfidence: number;
  };
}

/** Evenly spaced edges from lo to hi, rounded to 6 decimals so they read well in JSON. */
export function fixedEdges(lo: number, hi: number, bins: number): number[] {
  return Array.from({ length: bins + 1 }, (_, i) => Math.round((lo + ((hi - lo) * i) / bins) * 1e6) / 1e6);
}

/** Bin `values` into the histogram with `edges` (values outside the range go to the end bins). */
export function histogram(values: number[], edges: number[]): Histogram {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    let i = bins - 1;
    for (let b = 0; b < bins; b++) {
      if (v < edges[b + 1]!) {
        i = b;
        break;
      }
    }
    counts[i]!++;
  }
  const mean = values.length ? values.reduce((s, v) => s + v, 0) / values.length : 0;
  return { edges, counts, mean };
}

/** Fixed edges per feature: brightness and channel means in [0, 1], contrast (luma std) in [0, 0.5]. */
export const FEATURE_EDGES = {
  brightness: fixedEdges(0, 1, 20),
  contrast: fixedEdges(0, 0.5, 20),
  channelMean: fixedEdges(0, 1, 20),
  confidence: fixedEdges(0, 1, 20),
};

/** The input-feature histograms of the raw (decoded) training images. */
export function inputFeatureStats(images: readonly DecodedImage[]): ReferenceStats['inputs'] {
  const stats = images.map((im) => imageStats(im));
  const channels = Math.max(1, ...stats.map((s) => s.channelMeans.length));
  const features: Record<string, Histogram> = {
    brightness: histogram(
      stats.map((s) => s.brightness),
      FEATURE_EDGES.brightness,
    ),
    contrast: histogram(
      stats.map((s) => s.contrast),
      FEATURE_EDGES.contrast,
    ),
  };
  for (let c = 0; c < channels; c++) {
    features[`channel_mean_${c}`] = histogram(
      stats.map((s) => s.channelMeans[c] ?? s.channelMeans[0]!),
      FEATURE_EDGES.channelMean,
    );
  }
  return { split: 'train', samples: images.length, features };
}

/** Prediction statistics from validation probabilities (count x labels.length, row-major). */
export function predictionStats(probs: Float32Array, labels: string[]): ReferenceStats['predictions'] {
  const k = labels.length;
  const n = probs.length / k;
  const classCounts = new Array<number>(k).fill(0);
  const confidences: number[] = [];
  for (let i = 0; i < n; i++) {
    let arg = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + arg]!) arg = c;
    classCounts[arg]!++;
    confidences.push(probs[i * k + arg]!);
  }
  const confidence = histogram(confidences, FEATURE_EDGES.confidence);
  return {
    split: 'validation',
    samples: n,
    labels: [...labels],
    classCounts,
    classDistribution: classCounts.map((c) => (n === 0 ? 0 : c / n)),
    confidence,
    meanConfidence: confidence.mean,
  };
}

/** Assemble reference-stats.json. */
export function referenceStats(
  trainImages: readonly DecodedImage[],
  validationProbs: Float32Array,
  labels: string[],
): ReferenceStats {
  return {
    version: 1,
    inputs: inputFeatureStats(trainImages),
    predictions: predictionStats(validationProbs, labels),
  };
}
