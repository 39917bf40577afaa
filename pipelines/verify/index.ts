/**
 * Rollout verification: does an environment run its pinned model version?
 * Argo CD Application Synced+Healthy, Deployment rolled out at the pin with
 * Ready pods carrying it, and a real /predict answering with it. See docs/rollout.md.
 */

export {
  apiMessageOf,
  apiStatusOf,
  type Cluster,
  clusterErrorOf,
  isNetworkError,
  type LoadClusterOptions,
  loadCluster,
} from '../../platform/kube/cluster.ts';
export {
  type ArgoApplication,
  type ArgoRollout,
  type CheckResult,
  checkApplication,
  checkDeployment,
  checkPods,
  checkRolloutOfDeployment,
  isPodReady,
  selectorToString,
  templateVersions,
} from './checks.ts';
export { makeSmokePng, type PredictTarget, predictUrlOf, type SmokeOptions, smokePredict } from './smoke.ts';
export {
  buildSyncOperation,
  failedResources,
  type SyncDeps,
  type SyncedApplication,
  type SyncOperation,
  type SyncOptions,
  type SyncResult,
  syncApplication,
} from './sync.ts';
export {
  formatReport,
  type RolloutReport,
  type RolloutTarget,
  type VerifyRolloutDeps,
  type VerifyRolloutOptions,
  verifyRollout,
} from './verify.ts';
