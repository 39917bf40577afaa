/**
 * Model builders chosen by config (`model.builder`): `small-cnn` for the
 * demo (16x16x1, two conv layers) and `deep-cnn` for CIFAR-10-sized inputs
 * (32x32x3: VGG-style conv blocks with batch normalisation and dropout).
 * Every initialiser is seeded, so the same seed builds the same weights.
 *
 * @see https://js.tensorflow.org/api/latest/#layers.conv2d
 * @see https://arxiv.org/abs/1502.03167 batch normalisation
 */
import * as tf from '@tensorflow/tfjs';
import { ProjectError } from '../platform/index.ts';
import { batchNormalization } from './batch-norm.ts';
import type { InputConfig, ModelConfig } from './config.ts';

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
} as const;

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
      model.add(batchNormalization());
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
  return o.model.builder === 'small-cnn' ? smallCnn(o) : deepCnn(o);
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
