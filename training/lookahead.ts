/**
 * Lookahead with an exponential moving average, as hlb-CIFAR10 and airbench
 * use it: every `every` steps after the first `afterEpochs` epochs, the
 * average is moved towards the weights by (1 - rho) and the weights are set
 * to the average; rho = decay^every x (progress of the run)^3, so the
 * average follows the weights closely early and averages strongly at the
 * end. At the end of every epoch the weights are set to the average. Every
 * weight of the model takes part, the batch-norm moving statistics included
 * (as PyTorch's state_dict). Deterministic: no randomness.
 *
 * @see https://arxiv.org/abs/1907.08610 Lookahead (Zhang et al.)
 * @see https://arxiv.org/abs/2404.00498 airbench, section 3.5
 */
import * as tf from '@tensorflow/tfjs';

export interface LookaheadConfig {
  /** Steps between updates (airbench: 5). */
  every: number;
  /** Epochs before the average starts (airbench: 3). */
  afterEpochs: number;
  /** Per-step decay; rho = decay^every x progress^3 (airbench: 0.95). */
  decay: number;
}

export class Lookahead {
  private average: tf.Variable[] | undefined;

  private readonly model: tf.LayersModel;
  private readonly config: LookaheadConfig;
  private readonly totalSteps: number;

  constructor(model: tf.LayersModel, config: LookaheadConfig, totalSteps: number) {
    this.model = model;
    this.config = config;
    this.totalSteps = totalSteps;
  }

  private weights(): tf.Variable[] {
    return this.model.weights.map((w) => w.read() as tf.Variable).filter((v) => v.dtype === 'float32');
  }

  /** After optimizer step `step` (1-based count of steps done) of 0-based `epoch`. */
  afterStep(step: number, epoch: number): void {
    if (epoch < this.config.afterEpochs || step % this.config.every !== 0) return;
    const weights = this.weights();
    if (this.average === undefined) {
      this.average = weights.map((w) => tf.variable(w.clone(), false));
      return;
    }
    const progress = Math.min(1, step / this.totalSteps);
    const rho = this.config.decay ** this.config.every * progress ** 3;
    this.blend(weights, rho);
  }

  /** At the end of an epoch: the weights become the average (when there is one). */
  afterEpoch(): void {
    if (this.average !== undefined) this.blend(this.weights(), 1);
  }

  /** average = rho * average + (1 - rho) * weights; weights = average. */
  private blend(weights: tf.Variable[], rho: number): void {
    const average = this.average as tf.Variable[];
    tf.tidy(() => {
      weights.forEach((w, i) => {
        const a = average[i] as tf.Variable;
        const next = rho === 1 ? a : tf.add(tf.mul(a, rho), tf.mul(w, 1 - rho));
        if (rho !== 1) a.assign(next);
        w.assign(a);
      });
    });
  }

  dispose(): void {
    if (this.average) tf.dispose(this.average);
    this.average = undefined;
  }
}
