import { describe, expect, test } from '@jest/globals';
import type { KubeObject } from './objects.ts';
import {
  networkPolicyProblems,
  projectProblems,
  rbacProblems,
  scalingProblems,
  workloadProblems,
} from './policy.ts';

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

describe('rbacProblems (least privilege)', () => {
  const rbac = (kind: string, body: Record<string, unknown>): KubeObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name: 'r', namespace: 'ml-dev' },
    ...body,
  });

  test('a Role naming what it needs, bound by a RoleBinding, has none', () => {
    expect(
      rbacProblems([
        rbac('Role', {
          rules: [
            {
              apiGroups: ['apps'],
              resources: ['deployments'],
              resourceNames: ['model-server'],
              verbs: ['get'],
            },
          ],
        }),
        rbac('RoleBinding', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' } }),
      ]),
    ).toEqual([]);
  });

  test('wildcards, Secrets, escalate/bind/impersonate, cluster-wide roles and bindings to ClusterRoles fail', () => {
    expect(
      rbacProblems([
        rbac('Role', {
          rules: [
            { apiGroups: ['*'], resources: ['pods'], verbs: ['*'] },
            { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
            { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['bind', 'escalate'] },
          ],
        }),
        rbac('ClusterRole', { rules: [] }),
        rbac('ClusterRoleBinding', { roleRef: { kind: 'ClusterRole', name: 'view' } }),
        rbac('RoleBinding', { roleRef: { kind: 'ClusterRole', name: 'edit' } }),
      ]),
    ).toEqual([
      'Role/r: rules[0]: apiGroups has "*"; list what is needed',
      'Role/r: rules[0]: verbs has "*"; list what is needed',
      'Role/r: rules[1]: reaches Secrets',
      'Role/r: rules[2]: grants "bind"',
      'Role/r: rules[2]: grants "escalate"',
      'ClusterRole/r: cluster-wide RBAC; grant a Role in the namespace it is for',
      'ClusterRoleBinding/r: cluster-wide RBAC; grant a Role in the namespace it is for',
      'RoleBinding/r: binds ClusterRole/edit; bind a Role of this namespace',
    ]);
  });
});

describe('networkPolicyProblems', () => {
  const policy = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'p', namespace: 'ml-dev' },
    spec,
  });

  test('rules that name their peers pass; a rule without from/to admits everyone and fails', () => {
    const peer = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    expect(networkPolicyProblems([policy({ ingress: [{ from: peer }], egress: [{ to: peer }] })])).toEqual(
      [],
    );
    expect(
      networkPolicyProblems([
        policy({
          ingress: [{ from: peer }, { ports: [{ port: 8080 }] }],
          egress: [{ ports: [{ port: 443 }] }],
        }),
      ]),
    ).toEqual([
      'NetworkPolicy/p: ingress[1] has no "from": it admits every source',
      'NetworkPolicy/p: egress[0] has no "to": it allows every destination',
    ]);
  });
});
