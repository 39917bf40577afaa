/**
 * training/: the public API. Data sources and the split (training/data),
 * the shared preprocessing, model builders, the training loop, evaluation,
 * plots, and the model artifact (export, digests, loading). See README.md.
 */

export * from '../model/model-io.ts';
export * from '../model/preprocessing.ts';
export * from '../model/reference-stats.ts';
export * from './artifact.ts';
export * from './augment.ts';
export * from './checkpoint.ts';
export * from './config.ts';
export * from './data/index.ts';
export * from './evaluate.ts';
export * from './golden.ts';
export * from './loop.ts';
export * from './models.ts';
export * from './plots.ts';
export * from './progress.ts';
export * from './schedule.ts';
export * from './train.ts';
