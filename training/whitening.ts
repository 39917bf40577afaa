/**
 * Patch whitening: the first layer of the airbench network, a k x k
 * convolution whose filters are the eigenvectors of the covariance of the
 * training images' k x k patches, each scaled by 1/sqrt(eigenvalue + eps),
 * and the same filters negated (so that a ReLU/GELU after it keeps both
 * signs). eps is taken relative to the patches' mean variance, so that the
 * layer is the same for inputs in [0, 1] as for normalised ones. It is computed once from training images, then frozen. Here the
 * patches are centred and the layer's bias subtracts their mean, so that the
 * layer works on inputs scaled to [0, 1] as well as on normalised ones.
 *
 * @see https://arxiv.org/abs/2404.00498 section 3.2 (airbench: whitening initialisation)
 */

/** Eigenvalues (descending) and unit eigenvectors (rows) of a symmetric matrix, by cyclic Jacobi rotations. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j]! - m[i * n + i]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((col, r) => {
    values[r] = m[col * n + col]!;
    for (let k = 0; k < n; k++) vectors[r * n + k] = v[k * n + col]!;
  });
  return { values, vectors };
}

export interface WhiteningWeights {
  /** [k, k, channels, 2 * k * k * channels], as a tfjs conv2d kernel, row-major. */
  kernel: Float32Array;
  /** [2 * k * k * channels]: minus the filters applied to the mean patch. */
  bias: Float32Array;
  /** Output channels: 2 * k * k * channels. */
  filters: number;
}

/**
 * The whitening filters of the k x k patches (stride 1, no padding) of the
 * first `count` HWC samples in `x`.
 */
export function whiteningWeights(
  x: Float32Array,
  count: number,
  shape: { height: number; width: number; channels: number },
  k: number,
  eps = 5e-4,
): WhiteningWeights {
  const { height: h, width: w, channels: c } = shape;
  const d = k * k * c;
  const sum = new Float64Array(d);
  const outer = new Float64Array(d * d);
  const patch = new Float64Array(d);
  let n = 0;
  for (let s = 0; s < count; s++) {
    const base = s * h * w * c;
    for (let y = 0; y + k <= h; y++) {
      for (let xx = 0; xx + k <= w; xx++) {
        for (let dy = 0; dy < k; dy++) {
          for (let dx = 0; dx < k; dx++) {
            const src = base + ((y + dy) * w + xx + dx) * c;
            const dst = (dy * k + dx) * c;
            for (let ch = 0; ch < c; ch++) patch[dst + ch] = x[src + ch]!;
          }
        }
        for (let i = 0; i < d; i++) {
          const pi = patch[i]!;
          sum[i] = sum[i]! + pi;
          for (let j = i; j < d; j++) outer[i * d + j] = outer[i * d + j]! + pi * patch[j]!;
        }
        n++;
      }
    }
  }
  const mean = sum.map((v) => v / n);
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = outer[i * d + j]! / n - mean[i]! * mean[j]!;
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
  }
  const { values, vectors } = symmetricEigen(cov, d);
  // eps is relative to the patches' mean variance (airbench's 5e-4 is for inputs normalised to
  // unit variance): the same whitening whatever the input scale ([0, 1] here).
  let trace = 0;
  for (let i = 0; i < d; i++) trace += cov[i * d + i]!;
  const floor = eps * (trace / d);
  const filters = 2 * d;
  const kernel = new Float32Array(d * filters);
  const bias = new Float32Array(filters);
  for (let f = 0; f < d; f++) {
    const scale = 1 / Math.sqrt(Math.max(0, values[f]!) + floor);
    let b = 0;
    for (let p = 0; p < d; p++) {
      const wv = vectors[f * d + p]! * scale;
      kernel[p * filters + f] = wv;
      kernel[p * filters + d + f] = -wv;
      b += wv * mean[p]!;
    }
    bias[f] = -b;
    bias[d + f] = b;
  }
  return { kernel, bias, filters };
}
