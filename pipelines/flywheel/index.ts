/** The data flywheel: labelled captures + the pinned data -> a new dataset and pointer (npm run data -- from-feedback). */
export {
  type AddedImage,
  datasetFromFeedback,
  type FromFeedbackCounts,
  type FromFeedbackOptions,
  type FromFeedbackResult,
  type LabelSource,
  PROVENANCE_FILE,
  summarizeFromFeedback,
} from './from-feedback.ts';
