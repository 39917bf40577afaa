/**
 * Fused TensorFlow ops for training on the native backend.
 *
 * tfjs runs eagerly, one TensorFlow op per tfjs kernel, and builds some
 * gradients out of many element-wise ops over the full activations: batch
 * normalisation (tf.moments plus the FusedBatchNorm gradient: some 40 ops per
 * layer and step), ReLU (`dy * step(x)`, where tfjs-node's Step kernel is six
 * ops). Keras runs TensorFlow's fused kernels for the same maths. On the
 * native backend these helpers call those kernels directly through the
 * binding's `executeOp` (the path tfjs-node's own kernels take):
 *
 *   - {@link fusedBatchNormTraining}: `FusedBatchNormV3` (is_training) forward
 *     and `FusedBatchNormGradV3` backward, as tf.keras does;
 *   - {@link installNativeTrainingKernels}: the `Relu` gradient as TensorFlow's
 *     `ReluGrad`, and a `Step` kernel of four ops instead of six.
 *
 * Other backends keep tfjs's own kernels and gradients. The numbers agree
 * with pure JS to float32 round-off (training/backend-agreement.test.ts).
 *
 * @see https://www.tensorflow.org/api_docs/cc/class/tensorflow/ops/fused-batch-norm-v3
 * @see https://www.tensorflow.org/api_docs/cc/class/tensorflow/ops/fused-batch-norm-grad-v3
 */
import * as tf from '@tensorflow/tfjs';

/** One attribute of a TensorFlow eager op, as the tfjs-node binding takes it. */
interface OpAttr {
  name: string;
  type: number;
  value: number | string | boolean;
}

/** The part of tfjs-node's NodeJSKernelBackend these helpers use. */
interface NativeKernelBackend {
  binding: {
    TF_ATTR_FLOAT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_FLOAT: number;
    TF_BOOL: number;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(
    name: string,
    attrs: OpAttr[],
    inputs: tf.TensorInfo[],
    numOutputs: number,
  ): tf.Tensor[];
}

/** The active backend when it is tfjs-node(-gpu)'s, else undefined. */
export function nativeKernelBackend(): NativeKernelBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const b = tf.backend() as unknown as Partial<NativeKernelBackend>;
  return typeof b.executeMultipleOutputs === 'function' && b.binding !== undefined
    ? (b as NativeKernelBackend)
    : undefined;
}

function typeAttr(b: NativeKernelBackend, name: string): OpAttr {
  return { name, type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

function batchNormAttrs(b: NativeKernelBackend, epsilon: number): OpAttr[] {
  return [
    typeAttr(b, 'T'),
    typeAttr(b, 'U'),
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
}

/** What {@link fusedBatchNormTraining} returns: tensors of the caller's scope, like any op's. */
export interface BatchNormTraining {
  /** The normalised, scaled and shifted input (differentiable in x, gamma and beta). */
  y: tf.Tensor4D;
  /** The batch mean per channel (no gradient). */
  mean: tf.Tensor1D;
  /** The batch variance per channel, biased (divided by n, as tf.moments gives it; no gradient). */
  variance: tf.Tensor1D;
}

/**
 * Batch normalisation of an NHWC float32 batch over N, H and W with the
 * batch's own statistics (training mode), in one TensorFlow kernel forward
 * and one backward. The same maths as tfjs-layers' training path
 * (`tf.moments`, then `tf.batchNorm`). Throws when the active backend is not
 * native: check {@link nativeKernelBackend} first.
 */
export function fusedBatchNormTraining(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): BatchNormTraining {
  const b = nativeKernelBackend();
  if (b === undefined)
    throw new Error(`fusedBatchNormTraining needs the native backend, not '${tf.getBackend()}'`);
  if (x.dtype !== 'float32') throw new Error(`fusedBatchNormTraining takes float32, not ${x.dtype}`);
  const attrs = batchNormAttrs(b, epsilon);
  let mean: tf.Tensor1D | undefined;
  let unbiased: tf.Tensor1D | undefined;
  const op = tf.customGrad((xIn, scale, offset, save) => {
    const empty = tf.tensor1d([], 'float32');
    const [y, batchMean, batchVariance, r1, r2, r3] = b.executeMultipleOutputs(
      'FusedBatchNormV3',
      attrs,
      [xIn as tf.Tensor, scale as tf.Tensor, offset as tf.Tensor, empty, empty],
      6,
    ) as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor, tf.Tensor, tf.Tensor];
    // The op runs inside the engine's tidy: keep the statistics for the moving averages.
    mean = tf.keep(batchMean);
    unbiased = tf.keep(batchVariance);
    (save as tf.GradSaveFunc)([xIn as tf.Tensor, scale as tf.Tensor, r1, r2, r3]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [dx, dScale, dOffset] = b.executeMultipleOutputs(
          'FusedBatchNormGradV3',
          attrs,
          [dy as tf.Tensor, ...saved],
          5,
        );
        return [dx as tf.Tensor, dScale as tf.Tensor, dOffset as tf.Tensor];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor4D;
  // FusedBatchNormV3 returns the variance with Bessel's correction (what TensorFlow's own moving
  // average uses); tfjs-layers and Keras 3 average the biased one. Undo the correction: n / (n - 1).
  const [n, h, w] = x.shape;
  const count = n * h * w;
  // Both come back as tensors of the caller's scope (its tidy disposes them), not as kept ones.
  const variance = tf.mul(unbiased as tf.Tensor1D, count > 1 ? (count - 1) / count : 0) as tf.Tensor1D;
  const batchMean = tf.clone(mean as tf.Tensor1D);
  tf.dispose([unbiased as tf.Tensor1D, mean as tf.Tensor1D]);
  return { y, mean: batchMean, variance };
}

let installed = false;

/**
 * Make the `Relu` gradient and the `Step` kernel single TensorFlow ops on the
 * native backend: `ReluGrad(dy, x)` (TensorFlow's own gradient: dy where
 * x > 0, else 0), and `Step` as `SelectV2(IsNan(x), x, SelectV2(x > 0, 1,
 * alpha))` with scalars broadcast: four ops where tfjs-node's kernel has six,
 * two of them full-size fills (used by the gradients of fused conv2d/matMul with a ReLU). Other
 * backends keep tfjs's. Idempotent.
 */
export function installNativeTrainingKernels(): void {
  if (installed) return;
  installed = true;
  const relu = tf.getGradient('Relu');
  if (relu !== undefined) {
    tf.registerGradient({
      ...relu,
      gradFunc: (dy, saved, attrs) => {
        const b = nativeKernelBackend();
        if (b === undefined || (dy as tf.Tensor).dtype !== 'float32' || saved[0]?.dtype !== 'float32') {
          return relu.gradFunc(dy, saved, attrs);
        }
        const x = saved[0] as tf.Tensor;
        return { x: () => b.executeSingleOutput('ReluGrad', [typeAttr(b, 'T')], [dy as tf.Tensor, x]) };
      },
    });
  }
  const step = tf.getKernel('Step', 'tensorflow');
  if (step !== undefined) {
    tf.unregisterKernel('Step', 'tensorflow');
    tf.registerKernel({
      kernelName: 'Step',
      backendName: 'tensorflow',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as NativeKernelBackend;
        const x = (inputs as { x: tf.Tensor }).x;
        const alpha = (attrs as { alpha?: number }).alpha ?? 0;
        if (x.dtype !== 'float32') return step.kernelFunc({ inputs, backend, attrs });
        return tf.tidy(() => {
          const t = [typeAttr(b, 'T')];
          const nans = b.executeSingleOutput('IsNan', t, [x]);
          const positive = b.executeSingleOutput('Greater', t, [x, tf.scalar(0)]);
          const steps = b.executeSingleOutput('SelectV2', t, [positive, tf.scalar(1), tf.scalar(alpha)]);
          return b.executeSingleOutput('SelectV2', t, [nans, x, steps]);
        });
      },
    });
  }
}
