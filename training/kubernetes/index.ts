/**
 * Training as a Kubernetes Job on a GPU node pool: build the batch/v1 Job,
 * submit it, follow its logs, wait for it and read the trainer's result.
 * scripts/train.ts calls submitTrainingJob for `--on kubernetes`.
 */
export {
  buildTrainingJob,
  GPU_RESOURCE,
  loadJobTemplate,
  RESULT_FILE_ENV,
  TERMINATION_MESSAGE_PATH,
  TRAINER_CONTAINER,
  type TrainingJobSpec,
} from './manifest.ts';
export { jobOutcome, parseResultLine, trainerTermination } from './result.ts';
export {
  type SubmitTrainingJobDeps,
  type SubmitTrainingJobOptions,
  submitTrainingJob,
  type TrainingJobResult,
} from './submit.ts';
