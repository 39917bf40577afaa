/**
 * The golden evaluation set's paired comparison: golden.json (the predictions
 * an artifact carries) and the statistics (McNemar's exact test, the exact
 * lower bound of the accuracy difference, per-class deltas). Light: no
 * TensorFlow, so promotion gates can use it (docs/promotion.md).
 */
export * from './format.ts';
export * from './stats.ts';
