import { describe, expect, it } from '@jest/globals';
import type { LockedVersion } from '../../lib/lock/index.ts';
import { comparisonMarkdown, formatDelta } from './comparison.ts';

const entry = (metrics: Record<string, number>): LockedVersion => ({
  artifactUri: 'artifacts/x',
  createdAt: '2026-01-01T00:00:00.000Z',
  datasetDigest: `sha256:${'d'.repeat(64)}`,
  digests: {},
  rootDigest: 'r'.repeat(64),
  gitCommit: null,
  metrics,
  mlflow: { runId: null, modelVersion: null },
  paramsDigest: `sha256:${'p'.repeat(64)}`,
});
const perClass = (p: number) => ({
  labels: ['circle', 'square'],
  per_class: {
    circle: { precision: p, recall: 1, f1: 0.9, support: 10 },
    square: { precision: 1, recall: p, f1: 0.8, support: 12 },
  },
});

describe('comparisonMarkdown', () => {
  it('formats deltas with their sign', () => {
    expect(formatDelta('accuracy', 0.97, 0.958)).toBe('+0.012');
    expect(formatDelta('accuracy', 0.95, 0.954)).toBe('-0.004');
    expect(formatDelta('accuracy', 0.95, 0.95)).toBe('±0.000');
    expect(formatDelta('samples', 200, 180)).toBe('+20');
    expect(formatDelta('accuracy', 0.9, undefined)).toBe('–');
  });

  it('puts the candidate beside prod with deltas and per-class changes', () => {
    const md = comparisonMarkdown({
      model: 'demo',
      candidate: {
        version: '3',
        entry: entry({ accuracy: 0.97, macro_f1: 0.96, samples: 180 }),
        metricsJson: perClass(0.9),
      },
      prod: {
        version: '2',
        entry: entry({ accuracy: 0.958, macro_f1: 0.961, samples: 180 }),
        metricsJson: perClass(0.85),
      },
      plots: [{ label: 'confusion matrix', url: 'http://mlflow/x.png' }],
    });
    expect(md).toContain('| metric | candidate (3) | prod (2) | delta |');
    expect(md).toContain('| accuracy | 0.9700 | 0.9580 | +0.012 |');
    expect(md).toContain('| macro_f1 | 0.9600 | 0.9610 | -0.001 |');
    expect(md).toContain('| samples | 180 | 180 | ±0 |');
    expect(md).toContain('| circle | 0.900 | +0.050 | 1.000 | ±0.000 | 0.900 | ±0.000 | 10 |');
    expect(md).toContain('Plots: [confusion matrix](http://mlflow/x.png)');
    expect(md.indexOf('accuracy')).toBeLessThan(md.indexOf('macro_f1'));
  });
});
