import { describe, expect, test } from '@jest/globals';
import { evaluateDrift } from './evaluate.ts';
import { parseDriftReference, parseDriftReferenceBytes, type ReferenceStats } from './reference.ts';
import { DriftWindow, featureValues } from './window.ts';

const edges = [0, 0.25, 0.5, 0.75, 1];
const reference = (): ReferenceStats => ({
  version: 1,
  inputs: {
    split: 'train',
    samples: 400,
    features: {
      brightness: { edges, counts: [100, 100, 100, 100], mean: 0.5 },
      contrast: { edges: [0, 0.25, 0.5], counts: [200, 200], mean: 0.25 },
      channel_mean_0: { edges, counts: [100, 100, 100, 100], mean: 0.5 },
    },
  },
  predictions: {
    split: 'validation',
    samples: 100,
    labels: ['a', 'b'],
    classCounts: [50, 50],
    classDistribution: [0.5, 0.5],
    confidence: { edges: [0, 0.5, 1], counts: [0, 100], mean: 0.9 },
    meanConfidence: 0.9,
  },
});
const uniform = (i: number, n: number) => (i + 0.5) / n;

describe('featureValues', () => {
  test('names features as reference-stats.json does; grayscale stands for every channel', () => {
    const v = featureValues({ brightness: 0.4, contrast: 0.1, channelMeans: [0.4] }, [
      'brightness',
      'channel_mean_0',
      'channel_mean_2',
      'contrast',
    ]);
    expect(Object.fromEntries(v)).toEqual({
      brightness: 0.4,
      channel_mean_0: 0.4,
      channel_mean_2: 0.4,
      contrast: 0.1,
    });
  });
});

describe('DriftWindow + evaluateDrift', () => {
  test('a window like the reference does not drift; a shifted one does', () => {
    const ref = reference();
    const same = new DriftWindow(ref, 200);
    const shifted = new DriftWindow(ref, 200);
    for (let i = 0; i < 200; i++) {
      const u = uniform(i, 200);
      same.add({
        features: { brightness: u, contrast: u / 2, channelMeans: [u] },
        probabilities: i % 2 ? [0.9, 0.1] : [0.1, 0.9],
      });
      shifted.add({
        features: { brightness: 0.75 + u / 4, contrast: u / 2, channelMeans: [0.75 + u / 4] },
        probabilities: i % 10 ? [0.6, 0.4] : [0.4, 0.6],
      });
    }
    const ok = evaluateDrift(ref, same.counts());
    expect(ok.scored).toBe(true);
    expect(ok.drifted).toEqual([]);
    expect(ok.features.map((f) => [f.feature, f.psi, f.ks])).toEqual([
      ['brightness', 0, 0],
      ['channel_mean_0', 0, 0],
      ['contrast', 0, 0],
    ]);
    expect(ok.predictions.meanConfidence).toBeCloseTo(0.9, 6);
    const bad = evaluateDrift(ref, shifted.counts());
    expect(bad.drifted).toEqual(['brightness', 'channel_mean_0', 'predictions']);
    expect(bad.features[0]!.psi).toBeGreaterThan(2);
    expect(bad.features[0]!.ks).toBeCloseTo(0.75, 6);
    expect(bad.predictions.psi).toBeGreaterThan(0.2);
    expect(bad.predictions.chiSquarePValue).toBeLessThan(0.05);
    expect(bad.predictions.meanConfidence).toBeCloseTo(0.6, 6);
  });

  test('the window keeps the last `capacity` observations', () => {
    const ref = reference();
    const w = new DriftWindow(ref, 3);
    for (const b of [0.1, 0.1, 0.9, 0.9, 0.9])
      w.add({ features: { brightness: b, contrast: 0.1, channelMeans: [b] } });
    const c = w.counts();
    expect(w.size).toBe(3);
    expect(c.features.brightness).toEqual({ counts: [0, 0, 0, 3], samples: 3, sum: expect.closeTo(2.7, 9) });
  });

  test('a window with too few samples has no score, not a false alarm', () => {
    const ref = reference();
    const w = new DriftWindow(ref, 500);
    for (let i = 0; i < 99; i++)
      w.add({ features: { brightness: 1, contrast: 0, channelMeans: [1] }, probabilities: [1, 0] });
    const r = evaluateDrift(ref, w.counts());
    expect(r.scored).toBe(false);
    expect(r.drifted).toEqual([]);
    expect(r.features[0]).toMatchObject({
      feature: 'brightness',
      samples: 99,
      psi: null,
      ks: null,
      drifted: false,
    });
    expect(r.predictions).toMatchObject({ psi: null, chiSquare: null, meanConfidence: null, drifted: false });
  });

  test('NaN features and probabilities are skipped and counted, never binned', () => {
    const ref = reference();
    const w = new DriftWindow(ref, 10);
    w.add({
      features: { brightness: Number.NaN, contrast: 0.1, channelMeans: [0.2] },
      probabilities: [Number.NaN, 1],
    });
    w.add({ features: { brightness: 0.3, contrast: 0.1, channelMeans: [0.3] }, probabilities: [0.2, 0.8] });
    const c = w.counts();
    expect(c.samples).toBe(2);
    expect(c.nonFinite).toBe(1);
    expect(c.features.brightness!.samples).toBe(1);
    expect(c.features.contrast!.samples).toBe(2);
    expect(c.predictions).toMatchObject({ samples: 1, classCounts: [0, 1] });
    expect(Number.isFinite(c.features.brightness!.sum)).toBe(true);
  });
});

describe('parseDriftReference', () => {
  test('names every malformed field', () => {
    const ref = reference() as unknown as {
      inputs: { features: Record<string, unknown> };
      predictions: { classCounts: number[] };
    };
    ref.inputs.features.contrast = { edges: [0, 1, 0.5], counts: [1, 2, 3], mean: 0 };
    ref.predictions.classCounts = [1];
    expect(() => parseDriftReference(ref, 'art/reference-stats.json', ['a', 'c'])).toThrow(
      [
        'art/reference-stats.json is invalid:',
        '  - /inputs/features/contrast: 3 edges for 3 counts (need counts + 1)',
        '  - /inputs/features/contrast/edges: not ascending at index 2',
        '  - /predictions/classCounts: 1 entries for 2 labels',
        '  - /predictions/labels: ["a","b"] is not the model\'s labels ["a","c"]',
      ].join('\n'),
    );
  });
  test('a schema failure names the field; bytes that are not JSON say so', () => {
    expect(() => parseDriftReference({ version: 1, note: 'x' }, 'r.json')).toThrow(
      'r.json is invalid:\n  - /: missing required field "inputs"\n  - /: missing required field "predictions"',
    );
    expect(() => parseDriftReferenceBytes(new TextEncoder().encode('{'), 'r.json')).toThrow(
      /^r.json is not valid JSON: /,
    );
  });
});
