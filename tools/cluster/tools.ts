/**
 * Where the programs of the local cluster are. The Go-built ones live in
 * versioned folders under ~/.cache/gitops-ml (XDG_CACHE_HOME respected), one
 * per set-up step; the Debian ones (etcd, redis-server) and git on PATH.
 * The versions here are the set-up steps' defaults (tools.test.ts checks
 * that they agree).
 */
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';

/** scripts/setup.d/60-kubernetes.sh: kube-apiserver, kube-controller-manager, kube-scheduler. */
export const KUBE_VERSION = 'v1.34.4';
/** scripts/setup.d/61-kwok.sh: the kwok binary and its default stages. */
export const KWOK_VERSION = 'v0.8.0';
/** scripts/setup.d/62-argocd.sh: Argo CD's multi-call binary, its manifests, and kustomize. */
export const ARGOCD_VERSION = 'v3.6.1';
/** scripts/setup.d/63-prometheus-operator-crds.sh: prometheus-operator's CRDs (nothing built). */
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';

/** scripts/setup.d/64-argo-rollouts.sh: Argo Rollouts' controller and its CRDs (optional: `up --with rollouts`). */
export const ARGO_ROLLOUTS_VERSION = 'v1.8.5';

/**
 * scripts/setup.d/65-seaweedfs.sh: SeaweedFS's `weed` (4.53), the object store.
 * The Go module proxy serves it only as a pseudo-version.
 */
export const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';

/** ~/.cache/gitops-ml, or $XDG_CACHE_HOME/gitops-ml. */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gitops-ml');
}

/** The folders the Go-built set-up steps fill. */
export function kubernetesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolCacheDir(env), `kubernetes-${KUBE_VERSION}`);
}
export function kwokDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolCacheDir(env), `kwok-${KWOK_VERSION}`);
}
export function argocdDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolCacheDir(env), `argocd-${ARGOCD_VERSION}`);
}

export function prometheusOperatorDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolCacheDir(env), `prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}`);
}

export function argoRolloutsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolCacheDir(env), `argo-rollouts-${ARGO_ROLLOUTS_VERSION}`);
}

export function seaweedfsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolCacheDir(env), `seaweedfs-${SEAWEEDFS_VERSION}`);
}

/** Path of `weed` as 65-seaweedfs.sh builds it. */
export function seaweedfsBinary(env: NodeJS.ProcessEnv = process.env): string {
  return join(seaweedfsDir(env), 'bin', 'weed');
}

/** The CRDs of prometheus-operator the stack installs: every file of its example/prometheus-operator-crd/. */
const PROMETHEUS_OPERATOR_CRDS = [
  'alertmanagerconfigs',
  'alertmanagers',
  'podmonitors',
  'probes',
  'prometheusagents',
  'prometheuses',
  'prometheusrules',
  'scrapeconfigs',
  'servicemonitors',
  'thanosrulers',
];

/** Path of kube-apiserver (or another control-plane binary) as 60-kubernetes.sh builds it. */
export function kubeBinary(
  name: 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler',
  env: NodeJS.ProcessEnv = process.env,
): string {
  return join(kubernetesDir(env), 'bin', name);
}

/** Every program `npm run cluster -- up` starts, resolved to an absolute path. */
export interface ClusterTools {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  /** kwok's stage files (node-initialize, node-heartbeat-with-lease, pod-ready, ...). */
  kwokStages: string[];
  redisServer: string;
  git: string;
  /** Argo CD's multi-call binary; the component is chosen by ARGOCD_BINARY_NAME. */
  argocd: string;
  /** The folder with argocd, its component links and kustomize: repo-server's PATH. */
  argocdBin: string;
  /** Argo CD's own manifests/crds/*.yaml and manifests/install.yaml. */
  argocdCrds: string[];
  argocdInstall: string;
  /** prometheus-operator's CRDs (ServiceMonitor, PrometheusRule, ...), one file each. */
  prometheusOperatorCrds: string[];
  /** SeaweedFS's `weed`: the object store. */
  seaweedfs: string;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(dir, name);
    if (executable(p)) return p;
  }
  return undefined;
}

/**
 * Resolve every program of the stack. Throws one NOT_FOUND error listing all
 * that are missing, each with the set-up step that provides it.
 */
export function findClusterTools(env: NodeJS.ProcessEnv = process.env): ClusterTools {
  const missing: string[] = [];
  const howTo = (step: string) => (step.endsWith('.sh') ? `run \`bash scripts/setup.d/${step}\`` : step);
  const need = (what: string, path: string | undefined, step: string): string => {
    if (path && executable(path)) return path;
    missing.push(`${what} (${path ?? 'not on PATH'}): ${howTo(step)}`);
    return '';
  };
  const file = (what: string, path: string, step: string): string => {
    try {
      accessSync(path, constants.R_OK);
    } catch {
      missing.push(`${what} (${path}): ${howTo(step)}`);
    }
    return path;
  };
  const argocdBin = join(argocdDir(env), 'bin');
  const stagesDir = join(kwokDir(env), 'stages');
  const manifests = join(argocdDir(env), 'manifests');
  const tools: ClusterTools = {
    etcd: need('etcd', onPath('etcd', env), '60-kubernetes.sh'),
    kubeApiserver: need('kube-apiserver', kubeBinary('kube-apiserver', env), '60-kubernetes.sh'),
    kubeControllerManager: need(
      'kube-controller-manager',
      kubeBinary('kube-controller-manager', env),
      '60-kubernetes.sh',
    ),
    kubeScheduler: need('kube-scheduler', kubeBinary('kube-scheduler', env), '60-kubernetes.sh'),
    kwok: need('kwok', join(kwokDir(env), 'bin', 'kwok'), '61-kwok.sh'),
    kwokStages: [
      'node-initialize',
      'node-heartbeat-with-lease',
      'pod-ready',
      'pod-complete',
      'pod-delete',
    ].map((s) => file(`kwok stage ${s}`, join(stagesDir, `${s}.yaml`), '61-kwok.sh')),
    redisServer: need('redis-server', onPath('redis-server', env), '62-argocd.sh'),
    git: need('git', onPath('git', env), 'install git (Debian: apt-get install git)'),
    argocd: need('argocd', join(argocdBin, 'argocd'), '62-argocd.sh'),
    argocdBin,
    argocdCrds: ['application-crd', 'applicationset-crd', 'appproject-crd'].map((c) =>
      file(`Argo CD CRD ${c}`, join(manifests, 'crds', `${c}.yaml`), '62-argocd.sh'),
    ),
    argocdInstall: file('Argo CD install.yaml', join(manifests, 'install.yaml'), '62-argocd.sh'),
    prometheusOperatorCrds: PROMETHEUS_OPERATOR_CRDS.map((c) =>
      file(
        `prometheus-operator CRD ${c}`,
        join(prometheusOperatorDir(env), 'crds', `monitoring.coreos.com_${c}.yaml`),
        '63-prometheus-operator-crds.sh',
      ),
    ),
    seaweedfs: need('weed (SeaweedFS, the object store)', seaweedfsBinary(env), '65-seaweedfs.sh'),
  };
  need('kustomize (for argocd-repo-server)', join(argocdBin, 'kustomize'), '62-argocd.sh');
  need(
    'git-verify-wrapper.sh (for argocd-repo-server)',
    join(argocdBin, 'git-verify-wrapper.sh'),
    '62-argocd.sh',
  );
  if (missing.length > 0) {
    throw new ProjectError(
      'NOT_FOUND',
      `the local cluster needs programs that are missing:\n  ${missing.join('\n  ')}`,
      {
        subject: 'cluster tools',
        hint: 'or run `bash scripts/setup.sh` once for all of them',
      },
    );
  }
  return tools;
}

/** What the optional Argo Rollouts component of the stack runs and installs. */
export interface RolloutsTools {
  /** cmd/rollouts-controller. */
  controller: string;
  /** Every file of Argo Rollouts' manifests/crds/ (Rollout, AnalysisTemplate, AnalysisRun, ...). */
  crds: string[];
}

/** Argo Rollouts' CRD files, as its manifests/crds/kustomization.yaml lists them. */
export const ARGO_ROLLOUTS_CRDS = [
  'rollout-crd',
  'experiment-crd',
  'analysis-run-crd',
  'analysis-template-crd',
  'cluster-analysis-template-crd',
];

/**
 * Resolve the Argo Rollouts controller and CRDs; throws one NOT_FOUND error
 * naming what is missing and the set-up step that provides it.
 */
export function findRolloutsTools(env: NodeJS.ProcessEnv = process.env): RolloutsTools {
  const dir = argoRolloutsDir(env);
  const controller = join(dir, 'bin', 'rollouts-controller');
  const crds = ARGO_ROLLOUTS_CRDS.map((c) => join(dir, 'crds', `${c}.yaml`));
  const missing: string[] = [];
  if (!executable(controller)) missing.push(`rollouts-controller (${controller})`);
  for (const f of crds) {
    try {
      accessSync(f, constants.R_OK);
    } catch {
      missing.push(`Argo Rollouts CRD (${f})`);
    }
  }
  if (missing.length > 0) {
    throw new ProjectError(
      'NOT_FOUND',
      `Argo Rollouts is missing:\n  ${missing.join('\n  ')}\nrun \`bash scripts/setup.d/64-argo-rollouts.sh\``,
      { subject: 'argo rollouts', hint: 'or start the cluster without --with rollouts' },
    );
  }
  return { controller, crds };
}
