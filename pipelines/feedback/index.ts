/** Ground-truth feedback to training data (npm run feedback:export). */
export { exportFeedback, type FeedbackExportOptions, type FeedbackExportResult } from './export.ts';
