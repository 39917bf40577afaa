/**
 * tfjs-layers' BatchNormalization, trained with TensorFlow's fused kernels on
 * the native backend (model/native/ops.ts: `FusedBatchNormV3` and its
 * gradient, as Keras uses them). Everywhere else (pure JS, inference,
 * layouts the fused kernel does not take) it is tfjs-layers' own layer.
 *
 * It serialises as `BatchNormalization` with the same config and weights, so a
 * saved model loads anywhere tfjs does (the server, a browser) as the stock
 * layer; a model loaded back for training (a resumed checkpoint) trains with
 * the stock layer, same maths, slower.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedBatchNormTraining, nativeKernelBackend } from '../model/native/ops.ts';

type BatchNormArgs = Parameters<typeof tf.layers.batchNormalization>[0];
type Kwargs = Record<string, unknown>;

/** The fields of tfjs-layers' BatchNormalization the training path reads (private in its typings). */
interface Internals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

// The registered class, rather than `tf.layers.batchNormalization().constructor`: making an
// instance would take a layer name ("batch_normalization_1") from the user's models.
const Stock = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization?.[0] as unknown as
  | (new (
      args?: BatchNormArgs,
    ) => tf.layers.Layer)
  | undefined;
if (Stock === undefined) throw new Error('@tensorflow/tfjs-layers did not register BatchNormalization');

/** Moving average as tfjs-layers updates it: v -= (v - value) * (1 - momentum). */
function movingAverage(v: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const old = v.read();
    v.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - momentum)));
  });
}

class NativeBatchNormalization extends Stock {
  /** Serialise as the stock layer: same class name, config and weights. */
  static className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const self = this as unknown as Internals;
    const nhwc =
      kwargs.training === true &&
      input !== undefined &&
      input.rank === 4 &&
      input.dtype === 'float32' &&
      (self.axis === -1 || self.axis === 3);
    const fused = nhwc && nativeKernelBackend() !== undefined;
    if (!fused) {
      // tfjs-layers' training path reads gamma and beta even when the layer has none (scale: false,
      // as airbench's): the same maths composed here, with 1 and 0 in their place.
      if (nhwc && !(self.scale && self.center)) return this.composite(input as tf.Tensor4D, self);
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      // A layer without scale (or offset) normalises with 1 (or 0) there, as the stock layer does.
      const channels = (input as tf.Tensor4D).shape[3];
      const { y, mean, variance } = fusedBatchNormTraining(
        input as tf.Tensor4D,
        self.scale ? (self.gamma.read() as tf.Tensor1D) : tf.ones([channels]),
        self.center ? (self.beta.read() as tf.Tensor1D) : tf.zeros([channels]),
        self.epsilon,
      );
      movingAverage(self.movingMean, mean, self.momentum);
      movingAverage(self.movingVariance, variance, self.momentum);
      return y;
    });
  }

  /** Training-mode batch norm from tfjs ops (tf.moments, tf.batchNorm), as tfjs-layers computes it. */
  private composite(input: tf.Tensor4D, self: Internals): tf.Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      // Explicit 0 and 1: tfjs's kernel cannot save an absent offset or scale for its gradient.
      const y = tf.batchNorm(
        input,
        mean,
        variance,
        self.center ? self.beta.read() : tf.zerosLike(mean),
        self.scale ? self.gamma.read() : tf.onesLike(mean),
        self.epsilon,
      );
      movingAverage(self.movingMean, mean, self.momentum);
      movingAverage(self.movingVariance, variance, self.momentum);
      return y;
    });
  }
}

/** `tf.layers.batchNormalization(args)`, trained with fused kernels on the native backend. */
export function batchNormalization(args?: BatchNormArgs): tf.layers.Layer {
  return new NativeBatchNormalization(args);
}
