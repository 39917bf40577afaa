/**
 * The model artifact (docs/artifact.md): its format and digests.json
 * (./format.ts, light), its one writer (./write.ts), its one reader and
 * verifier (./read.ts) and the LayersModel built from what it read
 * (./layers.ts). lock/ imports ./format.ts alone, which loads no TensorFlow.
 */
export * from './format.ts';
export * from './layers.ts';
export * from './read.ts';
export * from './write.ts';
