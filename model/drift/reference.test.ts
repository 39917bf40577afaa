import { describe, expect, it } from '@jest/globals';
import { FEATURE_EDGES, fixedEdges, histogram, referenceStats } from './reference.ts';

describe('reference statistics', () => {
  it('bins values with fixed edges, end bins catching values outside the range', () => {
    const edges = fixedEdges(0, 1, 4);
    expect(edges).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const h = histogram([-1, 0, 0.3, 0.5, 0.99, 1, 2], edges);
    expect(h.counts).toEqual([2, 1, 1, 3]);
    expect(h.mean).toBeCloseTo(3.79 / 7, 12);
  });

  it('describes training inputs and validation predictions', () => {
    const dark = { width: 2, height: 2, channels: 1 as const, data: Uint8Array.from([0, 0, 0, 0]) };
    const light = { width: 2, height: 2, channels: 1 as const, data: Uint8Array.from([255, 255, 255, 255]) };
    const probs = Float32Array.from([0.9, 0.1, 0.2, 0.8, 0.6, 0.4]);
    const s = referenceStats([dark, light, light], probs, ['a', 'b']);
    expect(Object.keys(s.inputs.features).sort()).toEqual(['brightness', 'channel_mean_0', 'contrast']);
    expect(s.inputs.features.brightness!.edges).toEqual(FEATURE_EDGES.brightness);
    expect(s.inputs.features.brightness!.counts[0]).toBe(1);
    expect(s.inputs.features.brightness!.counts[19]).toBe(2);
    expect(s.inputs.samples).toBe(3);
    expect(s.predictions.classCounts).toEqual([2, 1]);
    expect(s.predictions.classDistribution).toEqual([2 / 3, 1 / 3]);
    expect(s.predictions.meanConfidence).toBeCloseTo((0.9 + 0.8 + 0.6) / 3, 6);
    expect(s.predictions.confidence.counts.reduce((a, b) => a + b, 0)).toBe(3);
  });
});
