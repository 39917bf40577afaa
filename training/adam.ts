/**
 * Adam, as tfjs computes it, in one update for all weights on the native
 * backend.
 *
 * tfjs's AdamOptimizer updates each weight on its own: 14 ops per weight and
 * step (two moments, bias corrections, the step), which on the native
 * backend are 14 TensorFlow dispatches of a few microseconds of work each
 * for the small weights of a CNN: half the ops of a small-cnn training step.
 * Here the gradients are concatenated into one vector, the same formula runs
 * once on it (moments kept as two flat vectors), and the step is split back
 * onto the weights: 3n + 15 ops for n weights instead of 14n. Other backends
 * (and a model whose weights are not all float32) get tfjs's own update.
 * Either way the numbers are tfjs's Adam to float32 round-off
 * (training/adam.test.ts). A compiled training step (./compiled-step.ts)
 * runs the same flat update inside its graph ({@link FlatAdamOptimizer.graphUpdate}),
 * so that a step is one TensorFlow call, update included
 * (training/compiled-step.test.ts compares it with this one).
 *
 * @see https://arxiv.org/abs/1412.6980 Adam
 */
import * as tf from '@tensorflow/tfjs';
import type { GraphBuilder } from '../model/artifact/graph.ts';
import { nativeKernelBackend } from '../model/native/ops.ts';

/** tfjs's NamedTensor (not re-exported by @tensorflow/tfjs). */
type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];
type Gradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

/** The hyper-parameters tfjs's AdamOptimizer keeps (protected in its typings). */
interface Hyper {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

interface FlatState {
  names: string[];
  shapes: number[][];
  sizes: number[];
  m: tf.Variable;
  v: tf.Variable;
  /** beta1^t and beta2^t for the coming step t, as tfjs's accBeta1 / accBeta2. */
  accBeta1: number;
  accBeta2: number;
}

function asList(g: Gradients): NamedTensor[] {
  return Array.isArray(g) ? g : Object.keys(g).map((name) => ({ name, tensor: g[name] as tf.Tensor }));
}

/** One weight of a graph update: its variable's name, the graph nodes of its value and gradient, its shape. */
export interface GraphWeight {
  name: string;
  value: string;
  grad: string;
  shape: number[];
}

/** The flat Adam update as graph nodes: what to feed each step, what comes out, and what to keep of it. */
export interface AdamGraph {
  /** Placeholders to feed (float32): the flat moments, the step's -learning rate and bias corrections. */
  inputs: Record<string, number[]>;
  /** Each weight's new value, in the order given. */
  weights: string[];
  /** The new flat moments. */
  m: string;
  v: string;
  /** The feeds of the coming step, and those of them made for it (the caller disposes them after the call). */
  feeds(): { feeds: tf.NamedTensorMap; made: tf.Tensor[] };
  /** After the graph ran: keep the new moments, advance the bias corrections and the iteration count. */
  commit(m: tf.Tensor, v: tf.Tensor): void;
}

/**
 * The nodes of the flat update (the placeholders adam_m, adam_v, adam_neg_lr,
 * adam_c1 and adam_c2 exist): the gradients concatenated, tfjs's Adam formula
 * on them as applyGradients computes it, the step split back onto the weights.
 */
function adamNodes(
  g: GraphBuilder,
  h: Hyper,
  weights: GraphWeight[],
  sizes: number[],
): { weights: string[]; m: string; v: string } {
  const int32 = { type: 'int32' } as const;
  const scalar = (base: string, value: number) => g.constant(base, [], new Float32Array([value]));
  const flat = weights.map((w) =>
    g.op('adam/flat', 'Reshape', [w.grad, g.constant('adam/minus1', [1], new Int32Array([-1]))], {
      Tshape: int32,
    }),
  );
  const grad = g.raw('adam/grad', 'ConcatV2', [...flat, g.constant('adam/axis', [], new Int32Array([0]))], {
    T: { type: 'float32' },
    N: { i: flat.length },
    Tidx: int32,
  });
  // tfjs's AdamOptimizer.applyGradients, as FlatAdamOptimizer.applyGradients computes it on the flat vector
  const m = g.op('adam/m', 'AddV2', [
    g.op('adam/m_old', 'Mul', ['adam_m', scalar('adam/beta1', h.beta1)]),
    g.op('adam/m_new', 'Mul', [grad, scalar('adam/one_minus_beta1', 1 - h.beta1)]),
  ]);
  const v = g.op('adam/v', 'AddV2', [
    g.op('adam/v_old', 'Mul', ['adam_v', scalar('adam/beta2', h.beta2)]),
    g.op('adam/v_new', 'Mul', [
      g.op('adam/g2', 'Square', [grad]),
      scalar('adam/one_minus_beta2', 1 - h.beta2),
    ]),
  ]);
  const mHat = g.op('adam/m_hat', 'RealDiv', [m, 'adam_c1']);
  const vHat = g.op('adam/v_hat', 'RealDiv', [v, 'adam_c2']);
  const step = g.op('adam/step', 'Mul', [
    g.op('adam/ratio', 'RealDiv', [
      mHat,
      g.op('adam/denominator', 'AddV2', [
        g.op('adam/sqrt', 'Sqrt', [vHat]),
        scalar('adam/epsilon', h.epsilon),
      ]),
    ]),
    'adam_neg_lr',
  ]);
  const parts = g.raw(
    'adam/parts',
    'SplitV',
    [
      step,
      g.constant('adam/sizes', [sizes.length], new Int32Array(sizes)),
      g.constant('adam/split_axis', [], new Int32Array([0])),
    ],
    { T: { type: 'float32' }, Tlen: int32, num_split: { i: sizes.length } },
  );
  const updated = weights.map((w, i) =>
    g.op('adam/update', 'AddV2', [
      g.op(
        'adam/part',
        'Reshape',
        [`${parts}:${i}`, g.constant('adam/shape', [w.shape.length], new Int32Array(w.shape))],
        {
          Tshape: int32,
        },
      ),
      w.value,
    ]),
  );
  return { weights: updated, m, v };
}

export class FlatAdamOptimizer extends tf.AdamOptimizer {
  private flat: FlatState | undefined;
  /** Set once tfjs's own per-weight update has run: the two keep different state, so no switching. */
  private stock = false;

  override applyGradients(variableGradients: Gradients): void {
    const list = asList(variableGradients);
    const flatOk =
      !this.stock &&
      nativeKernelBackend() !== undefined &&
      list.length > 0 &&
      list.every((g) => g.tensor != null && g.tensor.dtype === 'float32');
    if (!flatOk) {
      if (this.flat !== undefined) {
        throw new Error(
          `FlatAdamOptimizer: this optimizer updated on the native backend and cannot continue on '${tf.getBackend()}'; make a new one`,
        );
      }
      this.stock = true;
      super.applyGradients(variableGradients);
      return;
    }
    const h = this as unknown as Hyper;
    const registered = tf.engine().registeredVariables;
    const weights = list.map((g) => {
      const w = registered[g.name];
      if (w === undefined) throw new Error(`FlatAdamOptimizer: no variable named ${g.name}`);
      return w;
    });
    const s = this.flatState(
      list.map((g) => g.name),
      weights.map((w) => w.shape),
    );
    tf.tidy(() => {
      const g = tf.concat(list.map((x) => tf.reshape(x.tensor, [-1])));
      // tfjs's AdamOptimizer.applyGradients, on the concatenated vector
      const m = tf.add(tf.mul(s.m, h.beta1), tf.mul(g, 1 - h.beta1));
      const v = tf.add(tf.mul(s.v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
      const mHat = tf.div(m, 1 - s.accBeta1);
      const vHat = tf.div(v, 1 - s.accBeta2);
      s.m.assign(m);
      s.v.assign(v);
      const step = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), h.epsilon)), -h.learningRate);
      const parts = tf.split(step, s.sizes);
      weights.forEach((w, i) => {
        w.assign(tf.add(tf.reshape(parts[i] as tf.Tensor, w.shape), w));
      });
    });
    s.accBeta1 *= h.beta1;
    s.accBeta2 *= h.beta2;
    this.incrementIterations();
  }

  /** The flat state for these weights: made on the first update, the same weights in the same order after. */
  private flatState(names: string[], shapes: number[][]): FlatState {
    if (this.flat !== undefined && this.flat.names.join('\n') !== names.join('\n')) {
      throw new Error('FlatAdamOptimizer: the weights to update changed between steps; make a new optimizer');
    }
    if (this.flat === undefined) {
      const h = this as unknown as Hyper;
      const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
      const total = sizes.reduce((a, b) => a + b, 0);
      this.flat = {
        names,
        shapes,
        sizes,
        m: tf.variable(tf.zeros([total]), false),
        v: tf.variable(tf.zeros([total]), false),
        accBeta1: h.beta1,
        accBeta2: h.beta2,
      };
    }
    return this.flat;
  }

  /**
   * The flat update of applyGradients as nodes of `g` (the same formula, in
   * the same order of operations), for a compiled training step: the
   * gradients concatenated, the moments, the bias-corrected step split back
   * onto the weights. Undefined when this optimizer keeps tfjs's per-weight
   * state or the backend is not native: then the step calls applyGradients.
   */
  graphUpdate(g: GraphBuilder, weights: GraphWeight[]): AdamGraph | undefined {
    if (this.stock || nativeKernelBackend() === undefined || weights.length === 0) return undefined;
    const h = this as unknown as Hyper;
    const s = this.flatState(
      weights.map((w) => w.name),
      weights.map((w) => w.shape),
    );
    const total = s.sizes.reduce((a, b) => a + b, 0);
    for (const [name, shape] of [
      ['adam_m', [total]],
      ['adam_v', [total]],
      ['adam_neg_lr', []],
      ['adam_c1', []],
      ['adam_c2', []],
    ] as const) {
      g.placeholder(name, 'float32', [...shape]);
    }
    const { weights: updated, m, v } = adamNodes(g, h, weights, s.sizes);
    return {
      inputs: { adam_m: [total], adam_v: [total], adam_neg_lr: [], adam_c1: [], adam_c2: [] },
      weights: updated,
      m,
      v,
      feeds: () => {
        const made = [tf.scalar(-h.learningRate), tf.scalar(1 - s.accBeta1), tf.scalar(1 - s.accBeta2)];
        const [negLr, c1, c2] = made as [tf.Tensor, tf.Tensor, tf.Tensor];
        return { feeds: { adam_m: s.m, adam_v: s.v, adam_neg_lr: negLr, adam_c1: c1, adam_c2: c2 }, made };
      },
      commit: (newM, newV) => {
        s.m.assign(newM);
        s.v.assign(newV);
        s.accBeta1 *= h.beta1;
        s.accBeta2 *= h.beta2;
        this.incrementIterations();
      },
    };
  }

  /** As tfjs's: the iteration count, then each weight's first moments, then its second moments. */
  override async getWeights(): Promise<NamedTensor[]> {
    const s = this.flat;
    if (s === undefined) return super.getWeights();
    const split = (t: tf.Tensor, suffix: string): NamedTensor[] =>
      tf.split(t, s.sizes).map((part, i) => ({
        name: `${s.names[i]}/${suffix}`,
        tensor: tf.reshape(part, s.shapes[i] as number[]),
      }));
    return [await this.saveIterations(), ...split(s.m, 'm'), ...split(s.v, 'v')];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    if (this.flat !== undefined) {
      throw new Error('FlatAdamOptimizer: cannot load weights into an optimizer that has already updated');
    }
    // restored state is per weight, tfjs's layout: carry on with tfjs's update
    this.stock = true;
    await super.setWeights(weightValues);
  }

  override dispose(): void {
    if (this.flat !== undefined) tf.dispose([this.flat.m, this.flat.v]);
    this.flat = undefined;
    super.dispose();
  }
}

/**
 * The optimizer every trainer here uses: Adam with tfjs's defaults (beta1
 * 0.9, beta2 0.999, the backend's epsilon), as `tf.train.adam(learningRate)`.
 */
export function adam(learningRate: number): tf.AdamOptimizer {
  return new FlatAdamOptimizer(learningRate, 0.9, 0.999);
}
