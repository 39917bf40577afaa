/**
 * The training config: one JSON file under training/configs/, validated once
 * at the edge (JSON Schema 2020-12 through platform/schema.ts), with
 * `additionalProperties: false` at every level so that a typo is an error,
 * never a silently ignored field. Every offending field is named at once.
 *
 * @see https://json-schema.org/draft/2020-12/json-schema-validation
 */
import { compileValidator, ProjectError, readJsonFile } from '../platform/index.ts';
import type { LookaheadConfig } from './lookahead.ts';

export type DataKind = 'image-folder' | 'cifar10' | 'generated';
export type BuilderName = 'small-cnn' | 'deep-cnn' | 'airbench';
export type MonitorName = 'val_loss' | 'val_accuracy';

export interface DataConfig {
  kind: DataKind;
  /** Data root; a relative path is resolved against the working directory. `--data` overrides it. */
  path: string;
  /**
   * image-folder: a data pointer committed to the repository (data/<name>.json,
   * training/data/pointer.ts); its archive is fetched, checked and extracted
   * into `path`. Relative to the working directory.
   */
  pointer?: string;
  /** generated: images per class. */
  perClass?: number;
  /** generated: image side in pixels. */
  size?: number;
  /** generated: 1 (gray) or 3 (RGB). */
  channels?: 1 | 3;
  /**
   * image-folder: read only the first N images of each class (by file name),
   * one number or one per split folder: a slice of a real dataset for smoke
   * tests. Recorded in the dataset digest's selection.
   */
  maxPerClass?: number | { train?: number; test?: number };
  /**
   * Fractions of each class held out for validation and test. `test:
   * "folder"` evaluates on the data's own test set instead: the `test/`
   * folder of an image folder with `train/` and `test/` (training/data/image-folder.ts),
   * CIFAR-10's test batch; validation is then cut from the training images.
   */
  split: { validation: number; test: number | 'folder' };
}

export interface ModelConfig {
  builder: BuilderName;
  /** Filters of each conv layer (small-cnn) or block (deep-cnn, airbench); the builder's default when absent. */
  filters?: number[];
  /** Units of the hidden dense layer; 0 for none. */
  denseUnits?: number;
  /** Dropout rate before the classifier (and after each deep-cnn block). */
  dropout?: number;
  /** airbench: the activation after the whitening layer and every batch norm (default relu). */
  activation?: 'relu' | 'gelu';
  /** airbench: a frozen 2x2 patch-whitening first layer, set from the training images (default true). */
  whitening?: boolean;
  /**
   * deep-cnn and airbench: batch-norm momentum (Keras' convention: the share of the old moving
   * average kept; default 0.99 for deep-cnn, 0.6 for airbench).
   */
  batchNormMomentum?: number;
}

export interface InputConfig {
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface AugmentationConfig {
  enabled: boolean;
  /** Random crop: pad this many pixels on each side (zeros), then crop back at a random offset; 0 = off. */
  crop: number;
  /** Random horizontal flip with probability 0.5. */
  flip: boolean;
  /** What the crop pads with: zeros (default) or the image mirrored at its edge (reflect). */
  padding?: 'zeros' | 'reflect';
}

export interface EarlyStoppingConfig {
  /** Epochs without improvement before stopping. */
  patience: number;
  /** Smallest change of the monitored metric that counts as an improvement. */
  minDelta: number;
  /** What is watched for early stopping and for the best checkpoint (default val_loss). */
  monitor?: MonitorName;
}

/**
 * The optimizer: Adam (the default), or SGD with (Nesterov) momentum and
 * weight decay as the fast CIFAR-10 recipes use it (training/sgd.ts).
 */
export type OptimizerConfig =
  | { name: 'adam' }
  | {
      name: 'sgd';
      /** Momentum (0.9 classic; airbench 0.85). */
      momentum: number;
      nesterov: boolean;
      /**
       * L2 weight decay coefficient, added to the gradient (PyTorch SGD's
       * `weight_decay`): each step shrinks a weight by learning rate x this.
       */
      weightDecay: number;
      /** Learning-rate multiplier of batch-norm offsets (betas), not of their decay (airbench: 64). Default 1. */
      batchNormBiasScale?: number;
    };

/**
 * `one-cycle`: a triangle per step: from `start` x learningRate up to the
 * learningRate at `peakAt` of the run, then down to `end` x learningRate at
 * its last step (airbench's schedule: 0.2, 0.23, 0.07).
 */
export interface OneCycleConfig {
  start: number;
  peakAt: number;
  end: number;
}

export interface TrainingSection {
  epochs: number;
  batchSize: number;
  learningRate: number;
  warmupEpochs: number;
  schedule: 'cosine' | 'constant' | 'one-cycle';
  /** The shape of the one-cycle schedule (default {start: 0.2, peakAt: 0.23, end: 0.07}). */
  oneCycle?: OneCycleConfig;
  /** Default Adam. */
  optimizer?: OptimizerConfig;
  /** Label smoothing: the target is (1 - s) on the true class plus s / classes on every class (default 0). */
  labelSmoothing?: number;
  /** Lookahead with a moving average of the weights (training/lookahead.ts; airbench: every 5, afterEpochs 3, decay 0.95). */
  lookahead?: LookaheadConfig;
  earlyStopping: EarlyStoppingConfig;
}

/**
 * The golden evaluation set: fixed examples, pinned by digest, that every
 * candidate and the champion (the version pinned in prod) are scored on in
 * the same run, so the PR comment and the promotion gate compare them on the
 * same data (training/golden.ts, docs/promotion.md). For the demo generated
 * deterministically; for real data an image folder behind a data pointer.
 */
export interface GoldenConfig {
  /** The golden set's name, shown in the PR comment. */
  name: string;
  /** `sha256:<hex>`: its dataset digest (training/data/digest.ts); what is generated or fetched must match. */
  digest: string;
  kind: 'generated' | 'image-folder';
  /** Where it is generated or extracted. */
  path: string;
  /** image-folder: the data pointer of its archive (data/<name>.json). */
  pointer?: string;
  /** generated: the generator's seed, images per class, side, channels. */
  seed?: number;
  perClass?: number;
  size?: number;
  channels?: 1 | 3;
}

export interface TrainingConfig {
  /** The model name, as in models.lock.json ("demo-classifier"). */
  name: string;
  /** Seeds every random source: split, shuffle, initialisers, dropout, augmentation. */
  seed: number;
  data: DataConfig;
  /** Model input size; written to preprocessing.json. */
  input: InputConfig;
  model: ModelConfig;
  augmentation: AugmentationConfig;
  training: TrainingSection;
  /** The golden evaluation set; absent: no paired comparison (the promotion gate pairedNonInferiority then fails). */
  golden?: GoldenConfig;
}

const int = (minimum: number, maximum?: number) => ({
  type: 'integer',
  minimum,
  ...(maximum === undefined ? {} : { maximum }),
});
const fraction = { type: 'number', minimum: 0, maximum: 0.5 };

/** JSON Schema (2020-12) of a training config file. */
export const trainingConfigSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'TrainingConfig',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'seed', 'data', 'input', 'model', 'augmentation', 'training'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
    seed: int(0, 2 ** 31 - 1),
    data: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'path', 'split'],
      properties: {
        kind: { enum: ['image-folder', 'cifar10', 'generated'] },
        path: { type: 'string', minLength: 1 },
        pointer: { type: 'string', pattern: '\\.json$' },
        perClass: int(1, 100000),
        size: int(4, 1024),
        channels: { enum: [1, 3] },
        maxPerClass: {
          oneOf: [
            int(1, 10000000),
            {
              type: 'object',
              additionalProperties: false,
              minProperties: 1,
              properties: { train: int(1, 10000000), test: int(1, 10000000) },
            },
          ],
        },
        split: {
          type: 'object',
          additionalProperties: false,
          required: ['validation', 'test'],
          properties: { validation: fraction, test: { oneOf: [fraction, { const: 'folder' }] } },
        },
      },
    },
    input: {
      type: 'object',
      additionalProperties: false,
      required: ['width', 'height', 'channels'],
      properties: { width: int(4, 1024), height: int(4, 1024), channels: { enum: [1, 3] } },
    },
    model: {
      type: 'object',
      additionalProperties: false,
      required: ['builder'],
      properties: {
        builder: { enum: ['small-cnn', 'deep-cnn', 'airbench'] },
        filters: { type: 'array', minItems: 1, maxItems: 6, items: int(1, 1024) },
        denseUnits: int(0, 4096),
        dropout: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
        activation: { enum: ['relu', 'gelu'] },
        whitening: { type: 'boolean' },
        batchNormMomentum: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
      },
    },
    augmentation: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'crop', 'flip'],
      properties: {
        enabled: { type: 'boolean' },
        crop: int(0, 64),
        flip: { type: 'boolean' },
        padding: { enum: ['zeros', 'reflect'] },
      },
    },
    golden: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'digest', 'kind', 'path'],
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' },
        digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
        kind: { enum: ['generated', 'image-folder'] },
        path: { type: 'string', minLength: 1 },
        pointer: { type: 'string', pattern: '\\.json$' },
        seed: int(0, 2 ** 31 - 1),
        perClass: int(1, 100000),
        size: int(8, 256),
        channels: { enum: [1, 3] },
      },
    },
    training: {
      type: 'object',
      additionalProperties: false,
      required: ['epochs', 'batchSize', 'learningRate', 'warmupEpochs', 'schedule', 'earlyStopping'],
      properties: {
        epochs: int(1, 10000),
        batchSize: int(1, 65536),
        learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 10 },
        warmupEpochs: int(0, 10000),
        schedule: { enum: ['cosine', 'constant', 'one-cycle'] },
        oneCycle: {
          type: 'object',
          additionalProperties: false,
          required: ['start', 'peakAt', 'end'],
          properties: {
            start: { type: 'number', minimum: 0, maximum: 1 },
            peakAt: { type: 'number', minimum: 0, maximum: 1 },
            end: { type: 'number', minimum: 0, maximum: 1 },
          },
        },
        optimizer: {
          type: 'object',
          required: ['name'],
          properties: { name: { enum: ['adam', 'sgd'] } },
          if: { properties: { name: { const: 'sgd' } } },
          // biome-ignore lint/suspicious/noThenProperty: a JSON Schema keyword, not a thenable
          then: {
            additionalProperties: false,
            required: ['momentum', 'nesterov', 'weightDecay'],
            properties: {
              name: { const: 'sgd' },
              momentum: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
              nesterov: { type: 'boolean' },
              weightDecay: { type: 'number', minimum: 0, maximum: 1 },
              batchNormBiasScale: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
            },
          },
          else: { additionalProperties: false, properties: { name: { const: 'adam' } } },
        },
        labelSmoothing: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
        lookahead: {
          type: 'object',
          additionalProperties: false,
          required: ['every', 'afterEpochs', 'decay'],
          properties: {
            every: int(1, 100000),
            afterEpochs: int(0, 10000),
            decay: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
          },
        },
        earlyStopping: {
          type: 'object',
          additionalProperties: false,
          required: ['patience', 'minDelta'],
          properties: {
            patience: int(1, 10000),
            minDelta: { type: 'number', minimum: 0 },
            monitor: { enum: ['val_loss', 'val_accuracy'] },
          },
        },
      },
    },
  },
} as const;

const validateConfig = compileValidator<TrainingConfig>(trainingConfigSchema);

/**
 * Validate a parsed config; throws ProjectError INVALID naming every
 * offending field of `what` (the file path, when read from a file).
 */
export function parseTrainingConfig(value: unknown, what = 'training config'): TrainingConfig {
  // Validate a copy: ajv applies defaults in place, and the caller's object stays theirs.
  const config = validateConfig(structuredClone(value), what);
  const problems = crossFieldProblems(config);
  if (problems.length > 0) {
    throw new ProjectError('INVALID', `${what} is invalid:\n${problems.map((l) => `  - ${l}`).join('\n')}`, {
      subject: what,
      details: problems,
    });
  }
  return config;
}

/** What JSON Schema cannot say well: fields that only make sense together. */
function crossFieldProblems(c: TrainingConfig): string[] {
  const out: string[] = [];
  const t = c.training;
  if (t.oneCycle && t.schedule !== 'one-cycle') {
    out.push(
      `/training/oneCycle: set, but /training/schedule is "${t.schedule}" (use "one-cycle" or remove it)`,
    );
  }
  if (t.schedule === 'one-cycle' && t.warmupEpochs !== 0) {
    out.push(
      '/training/warmupEpochs: must be 0 with the one-cycle schedule (it warms up itself, to oneCycle.peakAt)',
    );
  }
  const m = c.model;
  if (m.builder === 'small-cnn' && m.batchNormMomentum !== undefined)
    out.push('/model/batchNormMomentum: the small-cnn builder has no batch norm');
  if (m.builder !== 'airbench') {
    for (const f of ['activation', 'whitening'] as const) {
      if (m[f] !== undefined)
        out.push(`/model/${f}: only the airbench builder takes it (builder is "${m.builder}")`);
    }
  } else if (m.denseUnits !== undefined || m.dropout !== undefined) {
    out.push('/model: the airbench builder takes no denseUnits or dropout (its head is one linear layer)');
  }
  if (c.data.maxPerClass !== undefined && c.data.kind !== 'image-folder') {
    out.push(`/data/maxPerClass: only image-folder data takes it (kind is "${c.data.kind}")`);
  }
  if (c.data.split.test === 'folder' && c.data.kind === 'generated') {
    out.push('/data/split/test: generated data has no test set of its own; give a fraction');
  }
  return out;
}

/** Read and validate a training config file (NOT_FOUND / INVALID name the file). */
export async function loadTrainingConfig(path: string): Promise<TrainingConfig> {
  return parseTrainingConfig(await readJsonFile(path), path);
}
