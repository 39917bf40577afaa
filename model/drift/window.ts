/**
 * A sliding window of observations (one per image: its input features and
 * the model's probabilities), binned as they arrive into the FIXED bins of
 * the reference, so that adding and evicting one observation costs O(features
 * + classes) and a drift score is computed from counts, never from raw data.
 * The server keeps the last N; the offline report keeps them all.
 */
import type { ReferenceStats } from './reference.ts';
import { binIndex } from './stats.ts';

/** Summary statistics of one image (model/preprocessing.ts `imageStats`). */
export interface ImageFeatures {
  brightness: number;
  contrast: number;
  channelMeans: readonly number[];
}

/** One image seen: its features (absent when only a tensor was sent) and class probabilities. */
export interface Observation {
  features?: ImageFeatures;
  probabilities?: ArrayLike<number>;
}

/**
 * Feature values by the names of reference-stats.json (`brightness`,
 * `contrast`, `channel_mean_<c>`), the same rule as training's
 * `inputFeatureStats`: a grayscale image stands for every channel.
 */
export function featureValues(f: ImageFeatures, names: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of names) {
    if (name === 'brightness') out.set(name, f.brightness);
    else if (name === 'contrast') out.set(name, f.contrast);
    else {
      const m = /^channel_mean_(\d+)$/.exec(name);
      if (m) out.set(name, f.channelMeans[Number(m[1])] ?? f.channelMeans[0] ?? Number.NaN);
    }
  }
  return out;
}

/** Live counts of one feature over the window. */
export interface FeatureCounts {
  counts: number[];
  /** Observations with a finite value of this feature. */
  samples: number;
  sum: number;
}

/** Binned, evictable form of one observation. */
interface Entry {
  /** Bin per feature (-1: no finite value). */
  bins: Int32Array;
  values: Float64Array;
  /** Top-1 class (-1: no finite probabilities). */
  cls: number;
  confidence: number;
}

/** The counts of the window, the input of `evaluateDrift`. */
export interface WindowCounts {
  /** Observations in the window. */
  samples: number;
  features: Record<string, FeatureCounts>;
  predictions: { samples: number; classCounts: number[]; confidenceSum: number; confidenceCounts: number[] };
  /** Observations whose values were not finite (NaN/Infinity), since the start; skipped, not binned. */
  nonFinite: number;
}

/** A bounded FIFO window of observations binned against `reference`. */
export class DriftWindow {
  readonly capacity: number;
  readonly featureNames: string[];
  readonly #reference: ReferenceStats;
  readonly #entries: Entry[] = [];
  #head = 0;
  readonly #features: FeatureCounts[];
  readonly #classCounts: number[];
  readonly #confidenceCounts: number[];
  #predictionSamples = 0;
  #confidenceSum = 0;
  #nonFinite = 0;

  /** `capacity`: observations kept (Infinity keeps all, for the offline report). */
  constructor(reference: ReferenceStats, capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`drift window capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
    this.#reference = reference;
    this.featureNames = Object.keys(reference.inputs.features).sort();
    this.#features = this.featureNames.map((n) => ({
      counts: new Array<number>(reference.inputs.features[n]!.counts.length).fill(0),
      samples: 0,
      sum: 0,
    }));
    this.#classCounts = new Array<number>(reference.predictions.labels.length).fill(0);
    this.#confidenceCounts = new Array<number>(reference.predictions.confidence.counts.length).fill(0);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Add one observation, evicting the oldest when the window is full. */
  add(o: Observation): void {
    const names = this.featureNames;
    const bins = new Int32Array(names.length).fill(-1);
    const values = new Float64Array(names.length);
    let finite = true;
    if (o.features) {
      const v = featureValues(o.features, names);
      names.forEach((name, i) => {
        const x = v.get(name) ?? Number.NaN;
        bins[i] = binIndex(x, this.#reference.inputs.features[name]!.edges);
        values[i] = bins[i]! >= 0 ? x : 0;
        if (bins[i]! < 0) finite = false;
      });
    }
    let cls = -1;
    let confidence = 0;
    const p = o.probabilities;
    if (p && p.length === this.#classCounts.length) {
      let ok = true;
      for (let i = 0; i < p.length; i++) if (!Number.isFinite(p[i]!)) ok = false;
      if (ok) {
        cls = 0;
        for (let i = 1; i < p.length; i++) if (p[i]! > p[cls]!) cls = i;
        confidence = p[cls]!;
      } else finite = false;
    }
    if (!finite) this.#nonFinite++;
    const entry: Entry = { bins, values, cls, confidence };
    if (this.#entries.length < this.capacity) {
      this.#entries.push(entry);
    } else {
      this.#apply(this.#entries[this.#head]!, -1);
      this.#entries[this.#head] = entry;
      this.#head = (this.#head + 1) % this.capacity;
    }
    this.#apply(entry, 1);
  }

  #apply(e: Entry, sign: 1 | -1): void {
    e.bins.forEach((b, i) => {
      if (b < 0) return;
      const f = this.#features[i]!;
      f.counts[b]! += sign;
      f.samples += sign;
      f.sum += sign * e.values[i]!;
    });
    if (e.cls >= 0) {
      this.#classCounts[e.cls]! += sign;
      this.#predictionSamples += sign;
      this.#confidenceSum += sign * e.confidence;
      const b = binIndex(e.confidence, this.#reference.predictions.confidence.edges);
      this.#confidenceCounts[b]! += sign;
    }
  }

  /** A copy of the counts now. */
  counts(): WindowCounts {
    return {
      samples: this.#entries.length,
      features: Object.fromEntries(
        this.featureNames.map((n, i) => {
          const f = this.#features[i]!;
          return [n, { counts: [...f.counts], samples: f.samples, sum: f.sum }];
        }),
      ),
      predictions: {
        samples: this.#predictionSamples,
        classCounts: [...this.#classCounts],
        confidenceSum: this.#confidenceSum,
        confidenceCounts: [...this.#confidenceCounts],
      },
      nonFinite: this.#nonFinite,
    };
  }
}
