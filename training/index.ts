/**
 * training/: the public API. Data sources and the split (training/data),
 * model builders, the training loop, evaluation and plots. The contracts
 * training shares with serving (model-io, preprocessing, reference
 * statistics, and the model artifact: its format, its one writer and reader,
 * model/artifact/) are in model/. See README.md.
 */

export * from './augment.ts';
export * from './checkpoint.ts';
export * from './config.ts';
export * from './data/index.ts';
export * from './evaluate.ts';
export * from './golden.ts';
export * from './lookahead.ts';
export * from './loop.ts';
export * from './models.ts';
export * from './plots.ts';
export * from './progress.ts';
export * from './schedule.ts';
export * from './sgd.ts';
export * from './train.ts';
export * from './whitening.ts';
