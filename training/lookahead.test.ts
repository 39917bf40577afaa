/**
 * Lookahead (training/lookahead.ts): when it starts, the average it keeps,
 * and the weights it writes back, on a model whose weights the test sets.
 */
import { describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { Lookahead } from './lookahead.ts';

function model(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 1, inputShape: [1], kernelInitializer: 'zeros', biasInitializer: 'zeros' }));
  return m;
}

const set = (m: tf.LayersModel, k: number, b: number) => m.setWeights([tf.tensor2d([[k]]), tf.tensor1d([b])]);
const get = (m: tf.LayersModel) => m.getWeights().map((w) => (w.dataSync() as Float32Array)[0] as number);

describe('Lookahead', () => {
  it('starts after afterEpochs, every `every` steps; blends by rho = decay^every x progress^3 and writes the average back', () => {
    const m = model();
    const la = new Lookahead(m, { every: 2, afterEpochs: 1, decay: 0.5 }, 10);
    set(m, 1, 2);
    la.afterStep(2, 0); // epoch 0: before it starts
    la.afterStep(4, 1); // starts: the average is the weights now
    expect(get(m)).toEqual([1, 2]);
    set(m, 3, 6);
    la.afterStep(5, 1); // not a multiple of `every`
    expect(get(m)).toEqual([3, 6]);
    la.afterStep(6, 1);
    const rho = 0.5 ** 2 * 0.6 ** 3;
    expect(get(m)[0]).toBeCloseTo(rho * 1 + (1 - rho) * 3, 5);
    expect(get(m)[1]).toBeCloseTo(rho * 2 + (1 - rho) * 6, 5);
    const avg = get(m);
    set(m, 100, 100);
    la.afterEpoch(); // the weights become the average
    expect(get(m)[0]).toBeCloseTo(avg[0] as number, 6);
    expect(get(m)[1]).toBeCloseTo(avg[1] as number, 6);
    la.dispose();
    m.dispose();
  });

  it('does nothing at the end of an epoch before it has started', () => {
    const m = model();
    const la = new Lookahead(m, { every: 5, afterEpochs: 3, decay: 0.95 }, 100);
    set(m, 7, 8);
    la.afterStep(5, 0);
    la.afterEpoch();
    expect(get(m)).toEqual([7, 8]);
    la.dispose();
    m.dispose();
  });
});
