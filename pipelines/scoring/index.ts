/**
 * Batch scoring (docs/batch-scoring.md): a folder or an s3:// prefix of
 * images through one locked model version, into capture/v1 records;
 * resumable, sharded, and as a Kubernetes Indexed Job.
 */

export type { JobResult as ScoringJobResult } from '../training/kubernetes/index.ts';
export {
  doneBatches,
  IMAGE_FILE,
  type Location,
  listImages,
  locate,
  parseLocation,
  versionRoot,
} from './io.ts';
export {
  buildScoringJob,
  type KubernetesScoringOptions,
  SCORER_CONTAINER,
  type ScoringJobSpec,
  scoreOnKubernetes,
  scorerArgs,
} from './kubernetes.ts';
export { batchName, checkShard, planBatches, type ScoringBatch, type Shard, shardBatches } from './plan.ts';
export { createScoreProgress } from './progress.ts';
export {
  type ScoreDeps,
  type ScoreOptions,
  type ScoreProgress,
  type ScoreResult,
  scoreImages,
} from './score.ts';
