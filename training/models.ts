/**
 * Model builders chosen by config (`model.builder`): `small-cnn` for the
 * demo (16x16x1, two conv layers), `deep-cnn` for CIFAR-10-sized inputs
 * (32x32x3: VGG-style conv blocks with batch normalisation and dropout), and
 * `airbench` (the fast CIFAR-10 recipe's network: patch whitening, conv
 * blocks with batch norm, docs/cifar10.md).
 * Every initialiser is seeded, so the same seed builds the same weights.
 *
 * @see https://js.tensorflow.org/api/latest/#layers.conv2d
 * @see https://arxiv.org/abs/1502.03167 batch normalisation
 */
import * as tf from '@tensorflow/tfjs';
import { ProjectError } from '../platform/index.ts';
import { batchNormalization } from './batch-norm.ts';
import type { InputConfig, ModelConfig } from './config.ts';
import { whiteningWeights } from './whitening.ts';

export interface BuildModelOptions {
  model: ModelConfig;
  input: InputConfig;
  numClasses: number;
  seed: number;
}

/** Defaults per builder, used where the config leaves a field out. */
export const BUILDER_DEFAULTS = {
  'small-cnn': { filters: [8, 16], denseUnits: 32, dropout: 0.25 },
  'deep-cnn': { filters: [32, 64, 128], denseUnits: 128, dropout: 0.3 },
  airbench: { filters: [64, 256, 256], denseUnits: 0, dropout: 0 },
} as const;

/** airbench's defaults for the fields only it takes. */
export const AIRBENCH_DEFAULTS = {
  activation: 'relu',
  whitening: true,
  batchNormMomentum: 0.6,
  /** Side of the whitening patches. */
  whiteningKernel: 2,
  /** The logits are the linear layer's output times this (airbench: 1/9), folded into its weights. */
  headScale: 1 / 9,
  batchNormEpsilon: 1e-5,
} as const;

/**
 * What a builder tells the training loop about its weights: learning-rate
 * multipliers by variable name (a layer whose output is scaled, folded into
 * its weights, trains as the unfolded one with its rate times scale²), and
 * the whitening layer to set from training images.
 */
export interface TrainingHints {
  learningRateScales: Record<string, number>;
  whitening?: { layer: tf.layers.Layer; kernelSize: number };
}

const hints = new WeakMap<tf.LayersModel, TrainingHints>();

/** The builder's hints for `model` (none for models it did not build, e.g. loaded ones). */
export function trainingHints(model: tf.LayersModel): TrainingHints {
  return hints.get(model) ?? { learningRateScales: {} };
}

/** A seed source: every layer gets its own seed derived from the run's seed. */
function seeds(seed: number): () => number {
  let i = 0;
  return () => (seed * 7919 + ++i * 104729) % 2147483647;
}

/** A builder's sizes (the config's, else the builder's defaults), its seed source and an empty model. */
function start(o: BuildModelOptions, builder: keyof typeof BUILDER_DEFAULTS, name: string) {
  const d = BUILDER_DEFAULTS[builder];
  return {
    filters: o.model.filters ?? d.filters,
    denseUnits: o.model.denseUnits ?? d.denseUnits,
    dropout: o.model.dropout ?? d.dropout,
    next: seeds(o.seed),
    model: tf.sequential({ name }),
  };
}

function smallCnn(o: BuildModelOptions): tf.Sequential {
  const { filters, denseUnits, dropout, next, model } = start(o, 'small-cnn', 'small_cnn');
  filters.forEach((f, i) => {
    model.add(
      tf.layers.conv2d({
        ...(i === 0 ? { inputShape: [o.input.height, o.input.width, o.input.channels] } : {}),
        filters: f,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: next() }),
      }),
    );
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  });
  model.add(tf.layers.flatten());
  if (dropout > 0) model.add(tf.layers.dropout({ rate: dropout, seed: next() }));
  if (denseUnits > 0) addHidden(model, denseUnits, next);
  return withClassifierHead(model, o, next);
}

/** A hidden dense layer (ReLU, He initialisation), as both builders use before the output. */
function addHidden(model: tf.Sequential, units: number, next: () => number): void {
  model.add(
    tf.layers.dense({
      units,
      activation: 'relu',
      kernelInitializer: tf.initializers.heNormal({ seed: next() }),
    }),
  );
}

/** The output layer both builders end with: one softmax unit per class. */
function withClassifierHead(model: tf.Sequential, o: BuildModelOptions, next: () => number): tf.Sequential {
  model.add(
    tf.layers.dense({
      units: o.numClasses,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: next() }),
    }),
  );
  return model;
}

/**
 * airbench (Keller Jordan's fast CIFAR-10 network, arXiv:2404.00498): a
 * frozen 2x2 patch-whitening convolution, then per block conv -> max-pool ->
 * batch norm -> activation -> conv -> batch norm -> activation, global max
 * pooling, and one linear layer without bias whose output is scaled by 1/9.
 * Batch norms have no scale (gamma), only an offset. Conv filters start as
 * the identity where they can (dirac), the rest as PyTorch's default
 * initialisation. Every layer is a stock tfjs layer (the scale is folded into
 * the linear weights), so the server and Keras load the model as it is.
 */
function airbench(o: BuildModelOptions): tf.Sequential {
  const { filters, next, model } = start(o, 'airbench', 'airbench');
  const activation = o.model.activation ?? AIRBENCH_DEFAULTS.activation;
  const whitening = o.model.whitening ?? AIRBENCH_DEFAULTS.whitening;
  const momentum = o.model.batchNormMomentum ?? AIRBENCH_DEFAULTS.batchNormMomentum;
  const k = AIRBENCH_DEFAULTS.whiteningKernel;
  const inputShape = [o.input.height, o.input.width, o.input.channels];
  const act = () => (activation === 'gelu' ? tf.layers.activation({ activation: 'gelu' }) : tf.layers.reLU());
  const bn = () =>
    batchNormalization({ momentum, epsilon: AIRBENCH_DEFAULTS.batchNormEpsilon, scale: false, center: true });
  // PyTorch's default conv/linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const torchDefault = () =>
    tf.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: next() });
  let whiten: tf.layers.Layer | undefined;
  if (whitening) {
    whiten = tf.layers.conv2d({
      inputShape,
      filters: 2 * k * k * o.input.channels,
      kernelSize: k,
      padding: 'valid',
      useBias: true,
      kernelInitializer: 'zeros',
      biasInitializer: 'zeros',
      trainable: false,
    });
    model.add(whiten);
    model.add(act());
  }
  const dirac: tf.layers.Layer[] = [];
  const conv = (f: number, first: boolean) => {
    const layer = tf.layers.conv2d({
      ...(first ? { inputShape } : {}),
      filters: f,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      kernelInitializer: torchDefault(),
    });
    dirac.push(layer);
    return layer;
  };
  filters.forEach((f, i) => {
    model.add(conv(f, !whitening && i === 0));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(bn());
    model.add(act());
    model.add(conv(f, false));
    model.add(bn());
    model.add(act());
  });
  model.add(tf.layers.globalMaxPooling2d({}));
  const last = filters[filters.length - 1] as number;
  const bound = AIRBENCH_DEFAULTS.headScale / Math.sqrt(last);
  const head = tf.layers.dense({
    units: o.numClasses,
    useBias: false,
    activation: 'softmax',
    kernelInitializer: tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: next() }),
  });
  model.add(head);
  diracInit(dirac);
  hints.set(model, {
    // The folded scale s makes the weights s times smaller and their gradient 1/s times larger:
    // as the unfolded layer, their learning rate is s².
    learningRateScales: { [headKernelName(head)]: AIRBENCH_DEFAULTS.headScale ** 2 },
    ...(whiten ? { whitening: { layer: whiten, kernelSize: k } } : {}),
  });
  return model;
}

/** Dirac: a filter whose index is below the input channels starts as the identity on that channel. */
function diracInit(layers: tf.layers.Layer[]): void {
  for (const layer of layers) {
    const [kernel] = layer.getWeights() as [tf.Tensor4D];
    const [kh, kw, cin, cout] = kernel.shape;
    const values = kernel.dataSync().slice() as Float32Array;
    for (let j = 0; j < Math.min(cin, cout); j++) {
      for (let p = 0; p < kh * kw * cin; p++) values[p * cout + j] = 0;
      values[((Math.floor(kh / 2) * kw + Math.floor(kw / 2)) * cin + j) * cout + j] = 1;
    }
    // getWeights() gives the variable itself: not disposed here.
    const init = tf.tensor4d(values, kernel.shape);
    layer.setWeights([init]);
    init.dispose();
  }
}

function headKernelName(layer: tf.layers.Layer): string {
  const kernel = layer.weights.find((w) => w.originalName.endsWith('kernel'));
  if (!kernel) throw new Error(`${layer.name} has no kernel`);
  return kernel.name;
}

/**
 * The deep-cnn's batch-norm momentum when the config names none: Keras's
 * 0.99. A small dataset (a few dozen steps an epoch) wants 0.9, PyTorch's
 * default: with 0.99 the moving statistics that validation and serving use
 * still carry their initial values after several epochs (training/configs/demo.json).
 */
const DEEP_CNN_BATCH_NORM_MOMENTUM = 0.99;

function deepCnn(o: BuildModelOptions): tf.Sequential {
  const { filters, denseUnits, dropout, next, model } = start(o, 'deep-cnn', 'deep_cnn');
  let first = true;
  for (const f of filters) {
    for (let j = 0; j < 2; j++) {
      model.add(
        tf.layers.conv2d({
          ...(first ? { inputShape: [o.input.height, o.input.width, o.input.channels] } : {}),
          filters: f,
          kernelSize: 3,
          padding: 'same',
          useBias: false,
          kernelInitializer: tf.initializers.heNormal({ seed: next() }),
        }),
      );
      first = false;
      model.add(batchNormalization({ momentum: o.model.batchNormMomentum ?? DEEP_CNN_BATCH_NORM_MOMENTUM }));
      model.add(tf.layers.reLU());
    }
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    if (dropout > 0) model.add(tf.layers.dropout({ rate: dropout, seed: next() }));
  }
  model.add(tf.layers.globalAveragePooling2d({}));
  if (denseUnits > 0) {
    addHidden(model, denseUnits, next);
    if (dropout > 0) model.add(tf.layers.dropout({ rate: dropout, seed: next() }));
  }
  return withClassifierHead(model, o, next);
}

/**
 * Build the (uncompiled) model the config names. A deep-cnn whose pooling
 * would shrink the input below 1x1 is refused naming model.filters.
 */
export function buildModel(o: BuildModelOptions): tf.Sequential {
  if (o.numClasses < 2) {
    throw new ProjectError('INVALID', `a classifier needs at least 2 classes, the data has ${o.numClasses}`, {
      subject: 'data',
      hint: 'add a second class folder',
    });
  }
  const blocks = (o.model.filters ?? BUILDER_DEFAULTS[o.model.builder].filters).length;
  const smallest = Math.min(o.input.width, o.input.height);
  if (smallest >> blocks < 1) {
    throw new ProjectError(
      'INVALID',
      `model.filters has ${blocks} pooling stages, too many for a ${o.input.width}x${o.input.height} input`,
      { subject: 'model.filters', hint: `use at most ${Math.floor(Math.log2(smallest))} entries` },
    );
  }
  if (o.model.builder === 'airbench') return airbench(o);
  return o.model.builder === 'small-cnn' ? smallCnn(o) : deepCnn(o);
}

/**
 * Learning-rate multipliers of `model`'s weights by variable name: the
 * builder's (./models.ts TrainingHints), and `batchNormBiasScale` on every
 * batch-norm offset (beta).
 */
export function learningRateScales(
  model: tf.LayersModel,
  o: { batchNormBiasScale?: number } = {},
): Record<string, number> {
  const out = { ...trainingHints(model).learningRateScales };
  const scale = o.batchNormBiasScale ?? 1;
  if (scale !== 1) {
    for (const layer of model.layers) {
      if (layer.getClassName() !== 'BatchNormalization') continue;
      for (const w of layer.trainableWeights) {
        if (w.originalName.endsWith('beta')) out[w.name] = (out[w.name] ?? 1) * scale;
      }
    }
  }
  return out;
}

/**
 * Re-seed every Dropout layer for one training step. tfjs Dropout with a
 * fixed seed would draw the same mask at every step; without one it draws
 * from Math.random (not reproducible). A seed per (run, step, layer) gives
 * fresh masks that are the same on every run.
 */
export function reseedDropout(model: tf.LayersModel, runSeed: number, step: number): void {
  model.layers.forEach((layer, i) => {
    if (layer.getClassName() === 'Dropout') {
      (layer as unknown as { seed: number }).seed = (runSeed * 31 + step * 1009 + i * 17) % 2147483647;
    }
  });
}

/** Images the whitening layer is computed from (airbench uses 5,000). */
export const WHITENING_SAMPLES = 5000;

/**
 * Set what the builder leaves to the data: the airbench whitening layer,
 * from the first {@link WHITENING_SAMPLES} training samples (HWC floats, as
 * the model takes them). Nothing for other builders.
 */
export function initializeFromData(
  model: tf.LayersModel,
  x: Float32Array,
  count: number,
  shape: { height: number; width: number; channels: number },
): void {
  const w = trainingHints(model).whitening;
  if (!w) return;
  const k = w.kernelSize;
  const weights = whiteningWeights(x, Math.min(count, WHITENING_SAMPLES), shape, k);
  const kernel = tf.tensor4d(weights.kernel, [k, k, shape.channels, weights.filters]);
  const bias = tf.tensor1d(weights.bias);
  w.layer.setWeights([kernel, bias]);
  tf.dispose([kernel, bias]);
}
