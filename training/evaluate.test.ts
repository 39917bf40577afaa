import { describe, expect, it } from '@jest/globals';
import { argmaxRows, classificationMetrics } from './evaluate.ts';

describe('classificationMetrics', () => {
  it('computes accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix', () => {
    // truth:     a a a a b b c c c c
    // predicted: a a a b b a c c c b
    const truth = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2];
    const predicted = [0, 0, 0, 1, 1, 0, 2, 2, 2, 1];
    const m = classificationMetrics(truth, predicted, ['a', 'b', 'c'], { split: 'test', loss: 0.5 });
    expect(m.confusion_matrix).toEqual([
      [3, 1, 0],
      [1, 1, 0],
      [0, 1, 3],
    ]);
    expect(m.accuracy).toBeCloseTo(0.7, 12);
    expect(m.per_class.a).toEqual({ precision: 0.75, recall: 0.75, f1: 0.75, support: 4 });
    expect(m.per_class.b!.precision).toBeCloseTo(1 / 3, 12);
    expect(m.per_class.b!.recall).toBeCloseTo(0.5, 12);
    expect(m.per_class.b!.f1).toBeCloseTo(0.4, 12);
    expect(m.per_class.c).toEqual({ precision: 1, recall: 0.75, f1: 6 / 7, support: 4 });
    expect(m.macro_f1).toBeCloseTo((0.75 + 0.4 + 6 / 7) / 3, 12);
    expect(m.samples).toBe(10);
    expect(m.labels).toEqual(['a', 'b', 'c']);
  });

  it('scores 0 (not NaN) for a class never predicted and never present', () => {
    const m = classificationMetrics([0, 0], [0, 0], ['a', 'b'], { split: 'test', loss: 0 });
    expect(m.per_class.b).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(m.macro_f1).toBe(0.5);
  });
});

describe('argmaxRows', () => {
  it('picks the largest probability of each row', () => {
    expect(Array.from(argmaxRows(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.2, 0.3]), 3))).toEqual([1, 0]);
  });
});
