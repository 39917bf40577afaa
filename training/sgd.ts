/**
 * SGD with (Nesterov) momentum and L2 weight decay, as PyTorch's
 * `torch.optim.SGD(momentum, nesterov, weight_decay)` computes it (no
 * dampening), with a learning-rate multiplier per weight (param groups):
 *
 *   d   = scale * g + weightDecay * w
 *   buf = momentum * buf + d
 *   w  -= lr * (nesterov ? d + momentum * buf : buf)
 *
 * The decay is not multiplied by the weight's scale, so a weight trained
 * faster (airbench's batch-norm offsets, 64x) decays as fast as any other:
 * the param groups of airbench (lr x 64, weight_decay / 64) exactly.
 *
 * On the native backend every weight is updated in one go, as ./adam.ts
 * does: gradients and weights concatenated into one vector, the formula run
 * once, the result split back (a few TensorFlow dispatches per step instead
 * of a few per weight). Elsewhere the same formula runs per weight.
 *
 * @see https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
 * @see https://arxiv.org/abs/2404.00498 airbench (param groups, decoupled hyper-parameters)
 */
import * as tf from '@tensorflow/tfjs';
import { nativeKernelBackend } from '../model/native/ops.ts';

/** tfjs's NamedTensor (not re-exported by @tensorflow/tfjs). */
type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];
type Gradients = Parameters<tf.Optimizer['applyGradients']>[0];

export interface SgdOptions {
  learningRate: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  /** Learning-rate multiplier per variable name (default 1). */
  scales?: Readonly<Record<string, number>>;
}

interface FlatState {
  names: string[];
  sizes: number[];
  buf: tf.Variable;
  /** Per-element learning-rate multipliers, or undefined when all are 1. */
  scale: tf.Tensor | undefined;
}

function asList(g: Gradients): NamedTensor[] {
  return Array.isArray(g) ? g : Object.keys(g).map((name) => ({ name, tensor: g[name] as tf.Tensor }));
}

export class SgdOptimizer extends tf.Optimizer {
  /** Set by the training loop before each step (the schedule). */
  learningRate: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly scales: Readonly<Record<string, number>>;
  private flat: FlatState | undefined;
  private readonly buffers = new Map<string, tf.Variable>();

  /** @nocollapse */
  static get className(): string {
    // A name of its own: it is never serialised with a model (the artifact holds no optimizer).
    return 'GitopsSGD';
  }

  constructor(o: SgdOptions) {
    super();
    this.learningRate = o.learningRate;
    this.momentum = o.momentum;
    this.nesterov = o.nesterov;
    this.weightDecay = o.weightDecay;
    this.scales = o.scales ?? {};
  }

  private scaleOf(name: string): number {
    return this.scales[name] ?? 1;
  }

  override applyGradients(variableGradients: Gradients): void {
    const list = asList(variableGradients).filter((g) => g.tensor != null);
    if (list.length === 0) return;
    const registered = tf.engine().registeredVariables;
    const weights = list.map((g) => {
      const w = registered[g.name];
      if (w === undefined) throw new Error(`SgdOptimizer: no variable named ${g.name}`);
      return w;
    });
    const flatOk =
      this.buffers.size === 0 &&
      nativeKernelBackend() !== undefined &&
      list.every((g) => g.tensor.dtype === 'float32');
    if (flatOk) this.applyFlat(list, weights);
    else this.applyEach(list, weights);
    this.incrementIterations();
  }

  /** One update over all weights as a single vector (native backend). */
  private applyFlat(list: NamedTensor[], weights: tf.Variable[]): void {
    const names = list.map((g) => g.name);
    if (this.flat !== undefined && this.flat.names.join('\n') !== names.join('\n')) {
      throw new Error('SgdOptimizer: the weights to update changed between steps; make a new optimizer');
    }
    if (this.flat === undefined) {
      const sizes = weights.map((w) => w.size);
      const total = sizes.reduce((a, b) => a + b, 0);
      const scales = names.map((n) => this.scaleOf(n));
      this.flat = {
        names,
        sizes,
        buf: tf.variable(tf.zeros([total]), false),
        scale: scales.every((x) => x === 1)
          ? undefined
          : tf.tidy(() => tf.concat(sizes.map((n, i) => tf.fill([n], scales[i] as number)))),
      };
    }
    const s = this.flat;
    const { momentum: mu, weightDecay: wd, learningRate: lr } = this;
    tf.tidy(() => {
      const g = tf.concat(list.map((x) => tf.reshape(x.tensor, [-1])));
      const w = tf.concat(weights.map((x) => tf.reshape(x, [-1])));
      let d = s.scale ? tf.mul(g, s.scale) : g;
      if (wd > 0) d = tf.add(d, tf.mul(w, wd));
      const buf = tf.add(tf.mul(s.buf, mu), d);
      s.buf.assign(buf);
      const step = this.nesterov ? tf.add(d, tf.mul(buf, mu)) : buf;
      const next = tf.sub(w, tf.mul(step, lr));
      const parts = tf.split(next, s.sizes);
      weights.forEach((v, i) => {
        v.assign(tf.reshape(parts[i] as tf.Tensor, v.shape));
      });
    });
  }

  /** The same update, one weight at a time (other backends). */
  private applyEach(list: NamedTensor[], weights: tf.Variable[]): void {
    if (this.flat !== undefined) {
      throw new Error(
        `SgdOptimizer: this optimizer updated on the native backend and cannot continue on '${tf.getBackend()}'; make a new one`,
      );
    }
    const { momentum: mu, weightDecay: wd, learningRate: lr } = this;
    list.forEach((g, i) => {
      const w = weights[i] as tf.Variable;
      let buf = this.buffers.get(g.name);
      if (buf === undefined) {
        buf = tf.variable(tf.zerosLike(w), false);
        this.buffers.set(g.name, buf);
      }
      const b = buf;
      tf.tidy(() => {
        const scale = this.scaleOf(g.name);
        let d = scale === 1 ? g.tensor : tf.mul(g.tensor, scale);
        if (wd > 0) d = tf.add(d, tf.mul(w, wd));
        const nb = tf.add(tf.mul(b, mu), d);
        b.assign(nb);
        const step = this.nesterov ? tf.add(d, tf.mul(nb, mu)) : nb;
        w.assign(tf.sub(w, tf.mul(step, lr)));
      });
    });
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    if (this.flat !== undefined) {
      const s = this.flat;
      tf.split(s.buf, s.sizes).forEach((t, i) => {
        out.push({ name: `${s.names[i]}/momentum`, tensor: t });
      });
    } else {
      for (const [name, b] of this.buffers) out.push({ name: `${name}/momentum`, tensor: b });
    }
    return out;
  }

  override async setWeights(_weightValues: NamedTensor[]): Promise<void> {
    throw new Error(
      'SgdOptimizer: restoring optimizer state is not supported; training restarts from the weights',
    );
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      learningRate: this.learningRate,
      momentum: this.momentum,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
    };
  }

  override dispose(): void {
    if (this.flat !== undefined) {
      this.flat.buf.dispose();
      this.flat.scale?.dispose();
    }
    this.flat = undefined;
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
    super.dispose();
  }
}

/** SGD as {@link SgdOptimizer} describes it. */
export function sgd(o: SgdOptions): SgdOptimizer {
  return new SgdOptimizer(o);
}
