/**
 * Training pipelines: a training run recorded in MLflow (or the local store)
 * and added to models.lock.json as a candidate (train-and-record), the same
 * for a pull request in two jobs (train-pr: the pull request's code trains,
 * read-only, and hands over the candidate and its report, handoff; publish-pr:
 * the base branch's code checks the entry, commits it and comments), and the
 * drift-triggered retraining that opens a pull request (retrain). They
 * combine training/, training/tracking, lock and platform/github, so they sit
 * above the domains. See docs/ci-training.md.
 */
export {
  type JobCandidate,
  lockCandidate,
  lockJobCandidate,
  type PublishCandidateOptions,
  publishCandidate,
} from './candidate.ts';
export {
  type ComparisonInput,
  comparisonMarkdown,
  formatDelta,
  formatValue,
  type MetricsJson,
  pairedMarkdown,
  type ReportLink,
  type ReportSide,
} from './comparison.ts';
export { candidateSide, pinnedSide, type TrackingLinks, trackingLinks } from './comparison-inputs.ts';
export { CHAMPION_ENV, type PrepareGoldenOptions, prepareGolden } from './golden.ts';
export {
  CANDIDATE_FILE,
  HANDOFF_DIR,
  type Handoff,
  MAX_REPORT_CHARS,
  REPORT_FILE,
  readHandoff,
  writeHandoff,
} from './handoff.ts';
export {
  JOB_ARTIFACT_DIR,
  jobSource,
  type KubernetesTrainingOptions,
  type KubernetesTrainingResult,
  trainOnKubernetes,
} from './on-kubernetes.ts';
export {
  DEFAULT_PAIRED_POLICY,
  type PairedPolicy,
  type PairedSection,
  pairedPolicyOf,
  pairedSection,
  readLocalGolden,
} from './paired.ts';
export {
  candidateCommitMessage,
  forkLockNote,
  type PublishOutcome,
  type PublishPullRequestOptions,
  type PublishPullRequestResult,
  publishForPullRequest,
} from './publish-pr.ts';
export {
  type DriftCheck,
  defaultRetrainGates,
  type RetrainIfDriftResult,
  type RetrainOptions,
  type RetrainResult,
  retrain,
  retrainBranchName,
  retrainIfDrift,
} from './retrain.ts';
export {
  artifactUriFor,
  type TrainAndRecordOptions,
  type TrainAndRecordResult,
  trainAndRecord,
} from './train-and-record.ts';
export {
  type TrainPullRequestOptions,
  type TrainPullRequestResult,
  trainForPullRequest,
} from './train-pr.ts';

/**
 * The flags the training commands share (ci:train, retrain): config, data,
 * lock, model, out, with their help (platform/cli.ts FlagDef); a command
 * overrides a flag's help where it means more there (`{ ...TRAINING_FLAGS.out, help }`).
 */
export const TRAINING_FLAGS = {
  config: {
    type: 'string',
    default: 'training/configs/demo.json',
    value: '<file>',
    help: 'the training config (training/configs/*.json)',
  },
  data: { type: 'string', value: '<dir>', help: "the data folder; overrides the config's data.path" },
  lock: {
    type: 'string',
    default: 'models.lock.json',
    value: '<file>',
    help: 'the lock file to add the candidate to',
  },
  model: {
    type: 'string',
    value: '<name>',
    help: "the model's name in MLflow and the lock (default: the config's name)",
  },
  out: { type: 'string', value: '<dir>', help: 'the artifact folder to write' },
} as const;
