/**
 * Evaluation of a classifier on a held-out split: accuracy, per-class
 * precision / recall / F1, macro-F1 (unweighted mean of per-class F1, as
 * scikit-learn's `f1_score(average="macro")`), and the confusion matrix
 * (rows: true class, columns: predicted class). A class with no predictions
 * (precision 0/0) or no examples (recall 0/0) scores 0 there, as
 * scikit-learn's `zero_division=0`.
 *
 * @see https://scikit-learn.org/stable/modules/model_evaluation.html#precision-recall-f-measure-metrics
 */
import * as tf from '@tensorflow/tfjs';
import type { SampleShape } from './augment.ts';

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Examples of this class in the split. */
  support: number;
}

/** metrics.json: see docs/artifact.md. */
export interface ClassificationMetrics {
  split: string;
  samples: number;
  accuracy: number;
  macro_f1: number;
  /** Mean categorical cross-entropy on the split. */
  loss: number;
  labels: string[];
  per_class: Record<string, ClassMetrics>;
  /** confusion_matrix[true][predicted] = count. */
  confusion_matrix: number[][];
}

/**
 * Class probabilities of `count` HWC samples, run through `model` in
 * batches (inference mode: dropout off, batch-norm moving statistics).
 * Returns count x numClasses floats, row-major.
 */
export function predictProbabilities(
  model: tf.LayersModel,
  x: Float32Array,
  count: number,
  shape: SampleShape,
  batchSize = 64,
): Float32Array {
  const sampleSize = shape.height * shape.width * shape.channels;
  const parts: Float32Array[] = [];
  for (let from = 0; from < count; from += batchSize) {
    const n = Math.min(batchSize, count - from);
    const out = tf.tidy(() => {
      const xs = tf.tensor4d(x.subarray(from * sampleSize, (from + n) * sampleSize), [
        n,
        shape.height,
        shape.width,
        shape.channels,
      ]);
      return model.predict(xs) as tf.Tensor;
    });
    parts.push(out.dataSync() as Float32Array);
    out.dispose();
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const probs = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    probs.set(p, o);
    o += p.length;
  }
  return probs;
}

/** Index of the largest value in each row. */
export function argmaxRows(probs: Float32Array, numClasses: number): Int32Array {
  const n = probs.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let arg = 0;
    for (let k = 1; k < numClasses; k++)
      if (probs[i * numClasses + k]! > probs[i * numClasses + arg]!) arg = k;
    out[i] = arg;
  }
  return out;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** Metrics from true and predicted class indices. */
export function classificationMetrics(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  labels: string[],
  extra: { split: string; loss: number },
): ClassificationMetrics {
  const k = labels.length;
  const cm = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = predicted[i]!;
    cm[t]![p]!++;
    if (t === p) correct++;
  }
  const perClass: Record<string, ClassMetrics> = {};
  let f1Sum = 0;
  labels.forEach((label, c) => {
    const tp = cm[c]![c]!;
    const support = cm[c]!.reduce((s, v) => s + v, 0);
    const predictedAs = cm.reduce((s, row) => s + row[c]!, 0);
    const precision = ratio(tp, predictedAs);
    const recall = ratio(tp, support);
    const f1 = ratio(2 * precision * recall, precision + recall);
    f1Sum += f1;
    perClass[label] = { precision, recall, f1, support };
  });
  return {
    split: extra.split,
    samples: truth.length,
    accuracy: ratio(correct, truth.length),
    macro_f1: ratio(f1Sum, k),
    loss: extra.loss,
    labels: [...labels],
    per_class: perClass,
    confusion_matrix: cm,
  };
}
