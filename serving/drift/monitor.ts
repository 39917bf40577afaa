/**
 * The server's online drift monitor: every classified image goes into a
 * sliding window (model/drift DriftWindow) binned against the artifact's
 * reference-stats.json, and after each request the drift gauges of
 * serving/metrics.ts are set from it. A missing or malformed reference turns
 * the monitor off with serving_drift_enabled 0 and a warning in the log;
 * serving carries on. Below the minimum window no score is exposed (no series
 * for serving_drift_score, NaN for the unlabelled gauges), never a false alarm.
 * Names and thresholds: docs/drift.md, docs/contracts.md.
 */
import {
  type DriftResult,
  DriftWindow,
  evaluateDrift,
  type ImageFeatures,
  parseDriftReferenceBytes,
  type ReferenceStats,
} from '../../model/drift/index.ts';
import type { PreprocessingSpec } from '../../model/preprocessing.ts';
import { isProjectError } from '../../platform/index.ts';
import type { Logger } from '../logger.ts';
import type { ServingMetrics } from '../metrics.ts';
import type { DriftConfig } from './config.ts';

export const REFERENCE_FILE = 'reference-stats.json';

/** What the request path calls after inference. */
export interface DriftMonitor {
  readonly enabled: boolean;
  /** Why it is off, when it is. */
  readonly disabledReason?: string;
  /**
   * Features of decoded images (`imageStats` of model/preprocessing.ts,
   * computed where the image was decoded, as training did) and their
   * probabilities. Taking the features rather than the pixels lets a request
   * drop its decoded pixels before inference.
   */
  observeFeatures(features: readonly ImageFeatures[], probabilities: readonly ArrayLike<number>[]): void;
  /**
   * Preprocessed model inputs (Open Inference Protocol tensors) and their
   * probabilities: features are computed from the input un-normalised back
   * to pixels, after resizing (close to, not the same as, the reference).
   */
  observeInputs(inputs: readonly Float32Array[], probabilities: readonly ArrayLike<number>[]): void;
  /** The drift of the window now (null when off). */
  result(): DriftResult | null;
}

export interface DriftMonitorOptions {
  /** Verified artifact files by name (ServedModel.files). */
  files: ReadonlyMap<string, Uint8Array>;
  labels: readonly string[];
  spec: PreprocessingSpec;
  metrics: ServingMetrics;
  config: DriftConfig;
  logger: Logger;
}

const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;

/** Image features of one preprocessed input: the inverse of `(x * scale - mean) / std`, then imageStats' formulas. */
export function featuresOfModelInput(input: Float32Array, spec: PreprocessingSpec): ImageFeatures {
  const c = spec.channels;
  const n = input.length / c;
  const sums = new Array<number>(c).fill(0);
  let sum = 0;
  let sumSq = 0;
  const px = new Array<number>(c).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      px[k] = (input[i * c + k]! * spec.std[k]! + spec.mean[k]!) / spec.scale;
      sums[k]! += px[k]!;
    }
    const y = c === 1 ? px[0]! : luma(px[0]!, px[1]!, px[2]!);
    sum += y;
    sumSq += y * y;
  }
  const mean = sum / n;
  return {
    brightness: mean / 255,
    contrast: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) / 255,
    channelMeans: sums.map((s) => s / n / 255),
  };
}

function disabled(metrics: ServingMetrics, reason?: string): DriftMonitor {
  metrics.driftEnabled.set(0);
  metrics.driftWindowSamples.set(0);
  return {
    enabled: false,
    ...(reason ? { disabledReason: reason } : {}),
    observeFeatures: () => {},
    observeInputs: () => {},
    result: () => null,
  };
}

/**
 * Read the reference from the artifact files and start the monitor; off
 * (never a throw) when config.enabled is false or the reference is missing
 * or malformed.
 */
export function createDriftMonitor(opts: DriftMonitorOptions): DriftMonitor {
  const { metrics, config, logger } = opts;
  if (!config.enabled) return disabled(metrics, 'SERVING_DRIFT_ENABLED=false');
  const bytes = opts.files.get(REFERENCE_FILE);
  let reference: ReferenceStats;
  try {
    if (!bytes) throw new Error(`the artifact has no ${REFERENCE_FILE}`);
    reference = parseDriftReferenceBytes(bytes, REFERENCE_FILE, opts.labels);
  } catch (e) {
    const reason = isProjectError(e) ? e.message : (e as Error).message;
    logger.warn('drift monitoring disabled: reference statistics missing or malformed; serving continues', {
      file: REFERENCE_FILE,
      error: reason,
    });
    return disabled(metrics, reason);
  }
  const window = new DriftWindow(reference, config.windowSize);
  metrics.driftEnabled.set(1);
  let last: DriftResult | null = null;

  const publish = () => {
    const r = evaluateDrift(reference, window.counts(), config.thresholds);
    last = r;
    metrics.driftWindowSamples.set(r.samples);
    metrics.driftScore.reset();
    for (const f of r.features) {
      if (f.psi !== null) metrics.driftScore.set({ feature: f.feature, method: 'psi' }, f.psi);
      if (f.ks !== null) metrics.driftScore.set({ feature: f.feature, method: 'ks' }, f.ks);
    }
    metrics.driftPredictionPsi.set(r.predictions.psi ?? Number.NaN);
    metrics.driftMeanConfidence.set(r.predictions.meanConfidence ?? Number.NaN);
  };
  metrics.driftPredictionPsi.set(Number.NaN);
  metrics.driftMeanConfidence.set(Number.NaN);

  return {
    enabled: true,
    observeFeatures(features, probabilities) {
      features.forEach((f, i) => {
        window.add({
          features: f,
          ...(probabilities[i] ? { probabilities: probabilities[i] } : {}),
        });
      });
      publish();
    },
    observeInputs(inputs, probabilities) {
      inputs.forEach((x, i) => {
        window.add({
          features: featuresOfModelInput(x, opts.spec),
          ...(probabilities[i] ? { probabilities: probabilities[i] } : {}),
        });
      });
      publish();
    },
    result: () => last ?? evaluateDrift(reference, window.counts(), config.thresholds),
  };
}
