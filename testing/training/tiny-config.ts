/**
 * Test-only: a training config small enough to train in about a second on
 * the pure-JS backend (generated 8x8 shapes, one 2-filter conv, one epoch).
 * It learns little; tests that need a gate to pass lower the gate.
 */
import type { TrainingConfig } from '../../training/config.ts';

export interface TinyConfigOptions {
  name: string;
  /** Where the generated data goes (`data.path`). */
  dataPath: string;
  seed?: number;
  epochs?: number;
  patience?: number;
}

export function tinyTrainingConfig(o: TinyConfigOptions): TrainingConfig {
  return {
    name: o.name,
    seed: o.seed ?? 3,
    data: {
      kind: 'generated',
      path: o.dataPath,
      perClass: 6,
      size: 8,
      split: { validation: 0.2, test: 0.2 },
    },
    input: { width: 8, height: 8, channels: 1 },
    model: { builder: 'small-cnn', filters: [2], denseUnits: 0, dropout: 0 },
    augmentation: { enabled: false, crop: 0, flip: false },
    training: {
      epochs: o.epochs ?? 1,
      batchSize: 8,
      learningRate: 0.01,
      warmupEpochs: 0,
      schedule: 'constant',
      earlyStopping: { patience: o.patience ?? 1, minDelta: 0 },
    },
  } as TrainingConfig;
}
