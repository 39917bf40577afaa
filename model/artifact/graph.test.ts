/**
 * A LayersModel compiled into one TensorFlow graph (model/artifact/graph.ts)
 * computes what the layers compute: every builder of training/models.ts,
 * with trained-looking batch-norm statistics, on the native backend; a layer
 * without a graph form, a non-chain model and a non-native backend keep the
 * layers and say why.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { itNative, maxAbsDiff } from '../../testing/native.ts';
import { buildModel } from '../../training/models.ts';
import { loadedNativePackage, SERVING_ORDER, selectBackend } from '../backend.ts';
import { chooseExecution, GRAPH_TOLERANCE, planGraph } from './graph.ts';
import { predictBatch } from './layers.ts';

const INPUT: [number, number, number] = [16, 16, 3];

/** A model of `builder` whose batch-norm statistics are not the identity (as after training). */
function modelOf(builder: 'small-cnn' | 'deep-cnn' | 'airbench') {
  const model = buildModel({
    model: { builder, ...(builder === 'airbench' ? { filters: [16, 32, 32] } : {}) },
    input: { width: INPUT[1], height: INPUT[0], channels: INPUT[2] },
    numClasses: 5,
    seed: 3,
  } as Parameters<typeof buildModel>[0]);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(
      layer.getWeights().map((w, i, all) => {
        const n = w.shape[0] ?? 1;
        // the last weight is the moving variance: keep it positive
        const values = Array.from({ length: n }, (_, j) =>
          i === all.length - 1 ? 0.5 + (j % 5) * 0.3 : Math.sin(j + i),
        );
        return tf.tensor1d(values);
      }),
    );
  }
  return model;
}

function images(n: number): Float32Array {
  return Float32Array.from(
    { length: n * INPUT[0] * INPUT[1] * INPUT[2] },
    (_, i) => Math.cos(i * 0.37) * 1.5,
  );
}

describe('a layers model as one graph', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('plans every builder of training/models.ts as a chain of TensorFlow ops', () => {
    for (const builder of ['small-cnn', 'deep-cnn', 'airbench'] as const) {
      const plan = planGraph(modelOf(builder));
      expect(plan.ok).toBe(true);
      if (!plan.ok) continue;
      const ops = new Set(plan.nodes.map((n) => n.op));
      expect(ops.has('Placeholder') && ops.has('Conv2D') && ops.has('Softmax')).toBe(true);
      // Dropout leaves nothing at inference; batch norm becomes a scale and an offset.
      expect(ops.has('Dropout')).toBe(false);
    }
  });

  it('says why it keeps the layers: a layer without a graph form, a model that is not a chain', () => {
    const lrelu = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.leakyReLU({ alpha: 0.2 })],
    });
    expect(planGraph(lrelu)).toEqual({
      ok: false,
      unsupported: expect.stringContaining('LeakyReLU has no graph form'),
    });
    const input = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const branched = tf.model({ inputs: input, outputs: tf.layers.add().apply([a, b]) as tf.SymbolicTensor });
    const plan = planGraph(branched);
    expect(plan.ok).toBe(false);
  });

  it('on the pure-JS backend the layers run, and the note says graph needs the native backend', async () => {
    await tf.setBackend('cpu');
    const model = modelOf('small-cnn');
    const run = await chooseExecution(model, INPUT, 'graph', undefined, (f, n) =>
      predictBatch(model, INPUT, f, n),
    );
    expect(run.execution).toEqual({
      kind: 'layers',
      note: expect.stringContaining('graph needs the native backend'),
    });
  });

  describe('on the native backend', () => {
    beforeAll(async () => {
      await selectBackend(SERVING_ORDER, 'tensorflow').catch(() => undefined);
    });

    itNative(
      'each builder: the graph answers what the layers answer, at batch 1 and 7, and frees what it makes',
      async () => {
        for (const builder of ['small-cnn', 'deep-cnn', 'airbench'] as const) {
          const model = modelOf(builder);
          const layers = (f: Float32Array, n: number) => predictBatch(model, INPUT, f, n);
          const run = await chooseExecution(model, INPUT, 'graph', loadedNativePackage(), layers);
          expect(run.execution.kind).toBe('graph');
          for (const n of [1, 7]) {
            const x = images(n);
            const before = tf.memory().numTensors;
            const g = await run.predict(x.slice(), n);
            expect(tf.memory().numTensors).toBe(before);
            const l = await layers(x.slice(), n);
            expect(g).toHaveLength(n * 5);
            expect(maxAbsDiff(g, l)).toBeLessThan(GRAPH_TOLERANCE);
          }
          run.dispose();
          model.dispose();
        }
      },
    );

    itNative('"layers" is honoured, and a graph that would disagree is not used', async () => {
      const model = modelOf('deep-cnn');
      const layers = (f: Float32Array, n: number) => predictBatch(model, INPUT, f, n);
      expect(
        (await chooseExecution(model, INPUT, 'layers', loadedNativePackage(), layers)).execution,
      ).toEqual({
        kind: 'layers',
      });
      // A layers path that answers something else (as a wrong graph would differ from it).
      const shifted = async (f: Float32Array, n: number) => (await layers(f, n)).map((v) => v + 0.01);
      const run = await chooseExecution(model, INPUT, 'graph', loadedNativePackage(), shifted);
      expect(run.execution).toEqual({
        kind: 'layers',
        note: expect.stringContaining("the graph's probabilities differ"),
      });
    });
  });
});
