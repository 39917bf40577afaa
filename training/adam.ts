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
 * (training/adam.test.ts).
 *
 * @see https://arxiv.org/abs/1412.6980 Adam
 */
import * as tf from '@tensorflow/tfjs';
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
    const names = list.map((g) => g.name);
    if (this.flat !== undefined && this.flat.names.join('\n') !== names.join('\n')) {
      throw new Error('FlatAdamOptimizer: the weights to update changed between steps; make a new optimizer');
    }
    if (this.flat === undefined) {
      const sizes = weights.map((w) => w.size);
      const total = sizes.reduce((a, b) => a + b, 0);
      this.flat = {
        names,
        shapes: weights.map((w) => w.shape),
        sizes,
        m: tf.variable(tf.zeros([total]), false),
        v: tf.variable(tf.zeros([total]), false),
        accBeta1: h.beta1,
        accBeta2: h.beta2,
      };
    }
    const s = this.flat;
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
