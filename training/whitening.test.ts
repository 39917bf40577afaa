/**
 * Patch whitening (training/whitening.ts): the eigen-decomposition it rests
 * on, and the layer it makes: on the patches it was computed from, its first
 * half of outputs has zero mean and (nearly) identity covariance, the second
 * half is the first negated.
 */
import { describe, expect, it } from '@jest/globals';
import { mulberry32 } from './data/rng.ts';
import { symmetricEigen, whiteningWeights } from './whitening.ts';

describe('symmetricEigen', () => {
  it('finds eigenvalues (descending) and unit eigenvectors that rebuild the matrix', () => {
    const n = 5;
    const rng = mulberry32(3);
    const b = Array.from({ length: n * n }, () => rng() - 0.5);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += (b[i * n + k] as number) * (b[j * n + k] as number);
        a[i * n + j] = s;
      }
    const { values, vectors } = symmetricEigen(a, n);
    for (let i = 1; i < n; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1] as number);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let rebuilt = 0;
        let dot = 0;
        for (let k = 0; k < n; k++) {
          rebuilt += (values[k] as number) * (vectors[k * n + i] as number) * (vectors[k * n + j] as number);
          dot += (vectors[i * n + k] as number) * (vectors[j * n + k] as number);
        }
        expect(rebuilt).toBeCloseTo(a[i * n + j] as number, 9);
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 9);
      }
  });
});

describe('whiteningWeights', () => {
  it('whitens the 2x2 patches it was computed from: zero mean, identity covariance; the second half negated', () => {
    const shape = { height: 6, width: 6, channels: 3 };
    const count = 200;
    const rng = mulberry32(11);
    // Correlated channels and neighbours, as in real images.
    const x = new Float32Array(count * 6 * 6 * 3);
    for (let s = 0; s < count; s++) {
      const base = rng();
      for (let p = 0; p < 36; p++) {
        const v = base + 0.3 * rng();
        for (let c = 0; c < 3; c++) x[(s * 36 + p) * 3 + c] = v * (1 + 0.2 * c) + 0.05 * rng();
      }
    }
    const k = 2;
    const w = whiteningWeights(x, count, shape, k, 0);
    const d = k * k * 3;
    expect(w.filters).toBe(2 * d);
    const outs: number[][] = [];
    for (let s = 0; s < count; s++)
      for (let y = 0; y + k <= 6; y++)
        for (let xx = 0; xx + k <= 6; xx++) {
          const o = new Array<number>(w.filters).fill(0);
          for (let f = 0; f < w.filters; f++) {
            let v = w.bias[f] as number;
            for (let dy = 0; dy < k; dy++)
              for (let dx = 0; dx < k; dx++)
                for (let c = 0; c < 3; c++) {
                  const p = (dy * k + dx) * 3 + c;
                  v +=
                    (w.kernel[p * w.filters + f] as number) *
                    (x[(s * 36 + (y + dy) * 6 + xx + dx) * 3 + c] as number);
                }
            o[f] = v;
          }
          outs.push(o);
        }
    for (let f = 0; f < d; f++) {
      const mean = outs.reduce((a, o) => a + (o[f] as number), 0) / outs.length;
      expect(Math.abs(mean)).toBeLessThan(1e-3);
      for (let g = 0; g < d; g++) {
        const cov = outs.reduce((a, o) => a + (o[f] as number) * (o[g] as number), 0) / outs.length;
        expect(cov).toBeCloseTo(f === g ? 1 : 0, 2);
      }
      expect(outs[0]?.[d + f]).toBeCloseTo(-(outs[0]?.[f] as number), 5);
    }
  });
});
