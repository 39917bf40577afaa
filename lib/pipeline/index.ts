/**
 * The pipeline steps that join several folders: a training run with its
 * tracking and its lock entry. See docs/tracking.md and docs/lock-file.md.
 */
export {
  artifactUriFor,
  type TrainAndRecordOptions,
  type TrainAndRecordResult,
  trainAndRecord,
} from './train-and-record.ts';
