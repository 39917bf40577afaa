import { readFile } from 'node:fs/promises';
import { describe, expect, test } from '@jest/globals';
import { ProjectError } from '../../platform/errors.ts';
import {
  ARGO_ROLLOUTS_VERSION,
  ARGOCD_VERSION,
  argocdDir,
  findClusterTools,
  findRolloutsTools,
  KUBE_VERSION,
  KWOK_VERSION,
  kubeBinary,
  PROMETHEUS_OPERATOR_VERSION,
  SEAWEEDFS_VERSION,
  seaweedfsBinary,
} from './tools.ts';

const setupDefault = async (step: string, variable: string): Promise<string | undefined> => {
  const text = await readFile(new URL(`../../scripts/setup.d/${step}`, import.meta.url), 'utf8');
  return new RegExp(`^${variable}="\\$\\{${variable}:-([^}]+)\\}"`, 'm').exec(text)?.[1];
};

describe('cluster tools', () => {
  test('the versions looked for are the ones the set-up steps build', async () => {
    expect(await setupDefault('60-kubernetes.sh', 'KUBE_VERSION')).toBe(KUBE_VERSION);
    expect(await setupDefault('61-kwok.sh', 'KWOK_VERSION')).toBe(KWOK_VERSION);
    expect(await setupDefault('62-argocd.sh', 'ARGOCD_VERSION')).toBe(ARGOCD_VERSION);
    expect(await setupDefault('63-prometheus-operator-crds.sh', 'PROMETHEUS_OPERATOR_VERSION')).toBe(
      PROMETHEUS_OPERATOR_VERSION,
    );
    expect(await setupDefault('64-argo-rollouts.sh', 'ARGO_ROLLOUTS_VERSION')).toBe(ARGO_ROLLOUTS_VERSION);
    expect(await setupDefault('65-seaweedfs.sh', 'SEAWEEDFS_VERSION')).toBe(SEAWEEDFS_VERSION);
  });

  test('the cache folders follow XDG_CACHE_HOME, as the set-up steps do', () => {
    const env = { XDG_CACHE_HOME: '/x/cache', PATH: '' };
    expect(kubeBinary('kube-scheduler', env)).toBe(
      `/x/cache/gitops-ml/kubernetes-${KUBE_VERSION}/bin/kube-scheduler`,
    );
    expect(argocdDir(env)).toBe(`/x/cache/gitops-ml/argocd-${ARGOCD_VERSION}`);
    expect(seaweedfsBinary(env)).toBe(`/x/cache/gitops-ml/seaweedfs-${SEAWEEDFS_VERSION}/bin/weed`);
  });

  test('missing programs are listed together, each with the set-up step that provides it', () => {
    let error: unknown;
    try {
      findClusterTools({ XDG_CACHE_HOME: '/nonexistent', PATH: '/nonexistent' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProjectError);
    const message = (error as ProjectError).message;
    expect((error as ProjectError).code).toBe('NOT_FOUND');
    expect(message).toContain('etcd (not on PATH): run `bash scripts/setup.d/60-kubernetes.sh`');
    expect(message).toContain(
      `kube-controller-manager (/nonexistent/gitops-ml/kubernetes-${KUBE_VERSION}/bin/kube-controller-manager): run \`bash scripts/setup.d/60-kubernetes.sh\``,
    );
    expect(message).toContain('kwok stage pod-ready');
    expect(message).toContain('redis-server (not on PATH): run `bash scripts/setup.d/62-argocd.sh`');
    expect(message).toContain('git (not on PATH): install git');
    expect(message).toContain('Argo CD CRD application-crd');
    expect(message).toContain(
      `weed (SeaweedFS, the object store) (/nonexistent/gitops-ml/seaweedfs-${SEAWEEDFS_VERSION}/bin/weed): run \`bash scripts/setup.d/65-seaweedfs.sh\``,
    );
    expect(message).toContain(
      `prometheus-operator CRD servicemonitors (/nonexistent/gitops-ml/prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}/crds/monitoring.coreos.com_servicemonitors.yaml): run \`bash scripts/setup.d/63-prometheus-operator-crds.sh\``,
    );
  });

  test('Argo Rollouts (optional) names its set-up step when missing', () => {
    expect(() => findRolloutsTools({ XDG_CACHE_HOME: '/nonexistent', PATH: '' })).toThrow(
      `Argo Rollouts is missing:\n  rollouts-controller (/nonexistent/gitops-ml/argo-rollouts-${ARGO_ROLLOUTS_VERSION}/bin/rollouts-controller)`,
    );
    expect(() => findRolloutsTools({ XDG_CACHE_HOME: '/nonexistent', PATH: '' })).toThrow(
      'run `bash scripts/setup.d/64-argo-rollouts.sh`',
    );
  });
});
