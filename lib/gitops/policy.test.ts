import { describe, expect, test } from '@jest/globals';
import type { KubeObject } from './objects.ts';
import { imageProblems, projectProblems, scalingProblems, workloadProblems } from './policy.ts';

const safe = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};
const resources = { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } };
const probe = { httpGet: { path: '/healthz', port: 8080 } };

function deployment(container: Record<string, unknown>, pod: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'ml-dev' },
    spec: { replicas: 5, template: { spec: { ...pod, containers: [{ name: 'c', ...container }] } } },
  };
}

describe('workloadProblems', () => {
  test('a compliant container has none', () => {
    expect(
      workloadProblems([
        deployment({ resources, securityContext: safe, livenessProbe: probe, readinessProbe: probe }),
      ]),
    ).toEqual([]);
  });

  test('the pod-level securityContext counts for runAsNonRoot and seccomp; root uid and host namespaces do not pass', () => {
    const { runAsNonRoot: _n, seccompProfile: _s, ...containerLevel } = safe;
    const obj = deployment(
      {
        resources,
        securityContext: { ...containerLevel, runAsUser: 0 },
        livenessProbe: probe,
        readinessProbe: probe,
      },
      {
        hostNetwork: true,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      },
    );
    expect(workloadProblems([obj])).toEqual([
      'Deployment/d: uses host namespaces',
      'Deployment/d container "c": runAsUser is 0 (root)',
    ]);
  });

  test('a bare container lists every missing piece', () => {
    expect(workloadProblems([deployment({})])).toEqual([
      'Deployment/d container "c": no resources.requests.cpu',
      'Deployment/d container "c": no resources.requests.memory',
      'Deployment/d container "c": no resources.limits.cpu',
      'Deployment/d container "c": no resources.limits.memory',
      'Deployment/d container "c": runAsNonRoot is not true',
      'Deployment/d container "c": allowPrivilegeEscalation is not false',
      'Deployment/d container "c": readOnlyRootFilesystem is not true',
      'Deployment/d container "c": capabilities.drop does not include ALL',
      'Deployment/d container "c": seccompProfile.type is not RuntimeDefault',
      'Deployment/d container "c": no livenessProbe',
      'Deployment/d container "c": no readinessProbe',
    ]);
  });
});

describe('scalingProblems and projectProblems', () => {
  const hpa: KubeObject = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'h', namespace: 'ml-dev' },
    spec: { scaleTargetRef: { kind: 'Deployment', name: 'd' }, minReplicas: 1, maxReplicas: 3 },
  };

  test('replicas outside the HPA bounds', () => {
    expect(scalingProblems([deployment({}), hpa])).toEqual([
      'Deployment/d: replicas 5 outside HorizontalPodAutoscaler/h bounds 1..3',
    ]);
  });

  test('a namespace that is not a destination and an object in another namespace', () => {
    const project: KubeObject = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: { name: 'p' },
      spec: {
        destinations: [{ namespace: 'ml-prod' }],
        namespaceResourceWhitelist: [
          { group: 'apps', kind: '*' },
          { group: 'autoscaling', kind: 'HorizontalPodAutoscaler' },
        ],
      },
    };
    const stray = { ...hpa, metadata: { name: 'h', namespace: 'default' } };
    expect(projectProblems([deployment({}), stray], 'dev', project)).toEqual([
      'namespace ml-dev is not a destination of AppProject/p',
      'HorizontalPodAutoscaler/h is in namespace "default", expected ml-dev',
    ]);
  });
});

describe('imageProblems', () => {
  const digest = `ghcr.io/acme/model-server@sha256:${'a'.repeat(64)}`;
  const job = (image: string): KubeObject => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j' },
    spec: {
      template: {
        spec: { initContainers: [{ name: 'init', image }], containers: [{ name: 'c', image: digest }] },
      },
    },
  });

  test('staging and prod refuse a tag without a digest, in every container, naming it', () => {
    for (const env of ['staging', 'prod', 'qa-eu']) {
      expect(imageProblems([deployment({ image: 'ghcr.io/acme/model-server:latest' })], env)).toEqual([
        `Deployment/d container "c": image ghcr.io/acme/model-server:latest is a tag without a digest; ${env} runs only images by digest (promote it from the environment before it, which carries the image@sha256 it ran)`,
      ]);
    }
    expect(imageProblems([job('busybox:1.36')], 'prod')).toHaveLength(1);
    expect(imageProblems([deployment({})], 'prod')[0]).toContain('image (none) is a tag without a digest');
  });

  test('a digest passes everywhere; dev may run a tag', () => {
    expect(imageProblems([deployment({ image: digest }), job(digest)], 'prod')).toEqual([]);
    expect(
      imageProblems(
        [deployment({ image: `ghcr.io/acme/model-server:v1@sha256:${'b'.repeat(64)}` })],
        'staging',
      ),
    ).toEqual([]);
    expect(imageProblems([deployment({ image: 'ghcr.io/acme/model-server:latest' })], 'dev')).toEqual([]);
  });
});
