/**
 * The local cluster (`npm run cluster -- up|down|status`): a real control
 * plane, kwok nodes, Argo CD's controllers and a Git server on loopback.
 * See docs/cluster.md.
 */
export { gitCommonDir } from './git.ts';
export { createGitHttpHandler, type GitHttpOptions } from './git-server.ts';
export { applyObjects, DEFAULT_NODES, type KwokNodeSpec, parseManifests, readManifests } from './kube.ts';
export { createMetricsApiHandler, type PodSource, podMetricsOf } from './metrics-api.ts';
export { freePort, freePorts } from './ports.ts';
export {
  type ComponentStatus,
  clusterDown,
  clusterStatus,
  clusterUp,
  type UpOptions,
} from './stack.ts';
export type { ClusterState, ComponentState } from './state.ts';
export { ARGOCD_VERSION, type ClusterTools, findClusterTools, KUBE_VERSION, KWOK_VERSION } from './tools.ts';
