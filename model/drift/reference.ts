/**
 * reference-stats.json, the drift reference that ships with every model
 * artifact (docs/artifact.md): what serving and the drift job compare live
 * traffic against (PSI / KS). One type, written here by training (from the
 * decoded training images and the validation predictions) and read here by
 * serving and the drift job, validated once where it is read. Histograms use
 * FIXED bin edges (not data-dependent quantiles), so serving can bin live
 * values into the same bins without the training data.
 *
 * @see https://en.wikipedia.org/wiki/Population_stability_index
 */
import { ProjectError } from '../../platform/errors.ts';
import { parseNamedJson } from '../../platform/json.ts';
import { compileValidator } from '../../platform/schema.ts';
import { type DecodedImage, imageStats } from '../preprocessing.ts';

/** A histogram with fixed edges: bin i is [edges[i], edges[i+1]), the last bin closed; values outside go to the end bins. */
export interface ReferenceHistogram {
  /** bins + 1 ascending edges. */
  edges: number[];
  counts: number[];
  /** Mean of the raw values. */
  mean: number;
}

/** reference-stats.json (version 1). */
export interface ReferenceStats {
  version: 1;
  inputs: {
    /** `train`: the decoded training images. */
    split: string;
    samples: number;
    /** brightness, contrast, channel_mean_0.. (names as the serving_drift_score `feature` label). */
    features: Record<string, ReferenceHistogram>;
  };
  predictions: {
    /** `validation`: the model's predictions on the validation split. */
    split: string;
    samples: number;
    labels: string[];
    /** Predicted-class counts, in label order. */
    classCounts: number[];
    /** Predicted-class shares, in label order (sum 1). */
    classDistribution: number[];
    /** Histogram of the top-1 probability. */
    confidence: ReferenceHistogram;
    meanConfidence: number;
  };
}

const histogramSchema = {
  type: 'object',
  required: ['edges', 'counts', 'mean'],
  properties: {
    edges: { type: 'array', minItems: 2, items: { type: 'number' } },
    counts: { type: 'array', minItems: 1, items: { type: 'number', minimum: 0 } },
    mean: { type: 'number' },
  },
} as const;

/** JSON Schema (2020-12) of reference-stats.json version 1. */
export const referenceStatsSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'ReferenceStats',
  type: 'object',
  required: ['version', 'inputs', 'predictions'],
  properties: {
    version: { const: 1 },
    inputs: {
      type: 'object',
      required: ['samples', 'features'],
      properties: {
        split: { type: 'string' },
        samples: { type: 'integer', minimum: 1 },
        features: { type: 'object', minProperties: 1, additionalProperties: histogramSchema },
      },
    },
    predictions: {
      type: 'object',
      required: ['samples', 'labels', 'classCounts', 'classDistribution', 'confidence', 'meanConfidence'],
      properties: {
        split: { type: 'string' },
        samples: { type: 'integer', minimum: 0 },
        labels: { type: 'array', minItems: 1, items: { type: 'string' } },
        classCounts: { type: 'array', items: { type: 'number', minimum: 0 } },
        classDistribution: { type: 'array', items: { type: 'number', minimum: 0, maximum: 1 } },
        confidence: histogramSchema,
        meanConfidence: { type: 'number' },
      },
    },
  },
} as const;

const validate = compileValidator<ReferenceStats>(referenceStatsSchema);

/**
 * Validate a parsed reference-stats.json. Beyond the schema: every
 * histogram has one more edge than counts, ascending edges, and the class
 * lists agree with `labels` (and with `expectLabels`, the model's labels.json,
 * when given).
 * @throws ProjectError INVALID naming `what` and every offending field.
 */
export function parseDriftReference(
  value: unknown,
  what = 'reference-stats.json',
  expectLabels?: readonly string[],
): ReferenceStats {
  const ref = validate(value, what);
  const bad: string[] = [];
  const checkHistogram = (h: ReferenceHistogram, path: string) => {
    if (h.edges.length !== h.counts.length + 1) {
      bad.push(`${path}: ${h.edges.length} edges for ${h.counts.length} counts (need counts + 1)`);
    }
    for (let i = 1; i < h.edges.length; i++) {
      if (!(h.edges[i]! > h.edges[i - 1]!)) {
        bad.push(`${path}/edges: not ascending at index ${i}`);
        break;
      }
    }
  };
  for (const [name, h] of Object.entries(ref.inputs.features)) checkHistogram(h, `/inputs/features/${name}`);
  checkHistogram(ref.predictions.confidence, '/predictions/confidence');
  const k = ref.predictions.labels.length;
  if (ref.predictions.classCounts.length !== k) {
    bad.push(`/predictions/classCounts: ${ref.predictions.classCounts.length} entries for ${k} labels`);
  }
  if (ref.predictions.classDistribution.length !== k) {
    bad.push(
      `/predictions/classDistribution: ${ref.predictions.classDistribution.length} entries for ${k} labels`,
    );
  }
  if (expectLabels && JSON.stringify([...expectLabels]) !== JSON.stringify(ref.predictions.labels)) {
    bad.push(
      `/predictions/labels: ${JSON.stringify(ref.predictions.labels)} is not the model's labels ${JSON.stringify(expectLabels)}`,
    );
  }
  if (bad.length) {
    throw new ProjectError('INVALID', `${what} is invalid:\n${bad.map((b) => `  - ${b}`).join('\n')}`, {
      subject: what,
      details: bad,
      hint: 're-export the artifact with training (referenceStats writes this file)',
    });
  }
  return ref;
}

/**
 * Read reference-stats.json from raw bytes (as an artifact file map holds
 * them): not JSON is INVALID, like a schema failure.
 */
export function parseDriftReferenceBytes(
  bytes: Uint8Array,
  what = 'reference-stats.json',
  expectLabels?: readonly string[],
): ReferenceStats {
  const value = parseNamedJson(new TextDecoder().decode(bytes), what, {
    hint: 're-export the artifact with training (referenceStats writes this file)',
  });
  return parseDriftReference(value, what, expectLabels);
}

/** Evenly spaced edges from lo to hi, rounded to 6 decimals so they read well in JSON. */
export function fixedEdges(lo: number, hi: number, bins: number): number[] {
  return Array.from({ length: bins + 1 }, (_, i) => Math.round((lo + ((hi - lo) * i) / bins) * 1e6) / 1e6);
}

/** Bin `values` into the histogram with `edges` (values outside the range go to the end bins). */
export function histogram(values: number[], edges: number[]): ReferenceHistogram {
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
  const features: Record<string, ReferenceHistogram> = {
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
