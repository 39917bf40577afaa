/**
 * Training as a Kubernetes Job on a GPU node pool: build the batch/v1 Job,
 * submit it, follow its logs, wait for it and read the trainer's result.
 * submitJob (submit and follow any built Job) is what batch scoring's
 * Indexed Job shares (pipelines/scoring/kubernetes.ts).
 * pipelines/training/on-kubernetes.ts calls submitTrainingJob for `npm run train -- --on kubernetes`.
 */
export {
  buildTrainingJob,
  CHECKOUT_CONTAINER,
  CHECKOUT_SCRIPT,
  GPU_RESOURCE,
  loadJobTemplate,
  RESULT_FILE_ENV,
  TERMINATION_MESSAGE_PATH,
  TRAINER_CONTAINER,
  TRAINER_IMAGE_NAME,
  type TrainingJobSpec,
} from './manifest.ts';
export { jobOutcome, parseResultLine, trainerTermination } from './result.ts';
export {
  COMPLETION_INDEX_ANNOTATION,
  type JobPod,
  type JobResult,
  type SubmitJobDeps,
  type SubmitJobOptions,
  type SubmitTrainingJobDeps,
  type SubmitTrainingJobOptions,
  submitJob,
  submitTrainingJob,
  type TrainingJobResult,
} from './submit.ts';
