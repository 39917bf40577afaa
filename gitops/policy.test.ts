import { describe, expect, test } from '@jest/globals';
import type { KubeObject } from './objects.ts';
import {
  imageProblems,
  networkPolicyProblems,
  pinProblems,
  projectProblems,
  rbacProblems,
  renderedPin,
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

describe('a malformed object is a problem line, never a TypeError', () => {
  const compliant = { resources, securityContext: safe, livenessProbe: probe, readinessProbe: probe };
  const withPod = (pod: Record<string, unknown>): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'ml-dev' },
    spec: { replicas: 1, template: { spec: pod } },
  });

  test.each([
    [
      'containers that are not a list',
      { containers: 'server' },
      ['/spec/template/spec/containers: must be array'],
    ],
    [
      'init containers that are a number',
      { containers: [{ name: 'c', ...compliant }], initContainers: 5 },
      ['/spec/template/spec/initContainers: must be array'],
    ],
    [
      'a container without a name, and one that is null',
      { containers: [{ ...compliant }, null] },
      [
        '/spec/template/spec/containers/0: missing required field "name"',
        '/spec/template/spec/containers/1: must be object',
      ],
    ],
    [
      'env entries without a name, and env that is a mapping',
      {
        containers: [
          { name: 'c', ...compliant, env: [{ value: 'x' }] },
          { name: 'd', ...compliant, env: { A: '1' } },
        ],
      },
      [
        '/spec/template/spec/containers/0/env/0: missing required field "name"',
        '/spec/template/spec/containers/1/env: must be array',
      ],
    ],
    [
      'capabilities.drop that is a number, a securityContext that is a string',
      {
        containers: [{ name: 'c', ...compliant, securityContext: { ...safe, capabilities: { drop: 5 } } }],
        securityContext: 'restricted',
      },
      [
        '/spec/template/spec/containers/0/securityContext/capabilities/drop: must be array',
        '/spec/template/spec/securityContext: must be object',
      ],
    ],
  ])('a pod spec with %s', (_what, pod, lines) => {
    expect(workloadProblems([withPod(pod)])).toEqual(
      lines.map((l) => `Deployment/d: cannot check the pod spec: ${l}`),
    );
  });

  test('a Deployment with no pod template at all', () => {
    const bare: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: {} };
    expect(workloadProblems([bare])).toEqual([
      'Deployment/d: cannot check the pod spec: /spec/template/spec: must be object',
    ]);
  });

  test('the pin of a malformed model-server Deployment reads as missing, named as such', () => {
    const server = withPod({ containers: [{ name: 'server', env: [{ value: 'no name' }, 7] }] });
    server.metadata.name = 'model-server';
    (server.spec as { template: Record<string, unknown> }).template.metadata = { annotations: 'none' };
    expect(renderedPin([server])).toEqual({ env: {}, annotations: {} });
    const lock = { lockfileVersion: 1, models: {} } as unknown as Parameters<typeof pinProblems>[2];
    expect(pinProblems([server], 'dev', lock, 'models.lock.json')).toEqual([
      'Deployment/model-server container "server": no pin (missing SERVING_MODEL_NAME, SERVING_MODEL_VERSION, SERVING_MODEL_URI, SERVING_MODEL_DIGESTS, SERVING_MODEL_SHA256)',
    ]);
  });

  test('an HPA without a scale target, and an AppProject whose lists are not lists', () => {
    const hpa: KubeObject = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'h', namespace: 'ml-dev' },
      spec: { maxReplicas: 'ten' },
    };
    expect(scalingProblems([withPod({ containers: [] }), hpa])).toEqual([
      'HorizontalPodAutoscaler/h: cannot check its scale target: /spec: missing required field "scaleTargetRef"',
      'HorizontalPodAutoscaler/h: cannot check its scale target: /spec/maxReplicas: must be integer',
    ]);
    const project: KubeObject = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: { name: 'p' },
      spec: { destinations: 'ml-dev', namespaceResourceWhitelist: [{ kind: 'Deployment' }] },
    };
    expect(projectProblems([withPod({ containers: [] })], 'dev', project)).toEqual([
      'AppProject/p: cannot check what it allows ml-dev: /spec/namespaceResourceWhitelist/0: missing required field "group"',
      'AppProject/p: cannot check what it allows ml-dev: /spec/destinations: must be array',
    ]);
  });

  test('a Role whose rules are not a list, a RoleBinding without a roleRef, a NetworkPolicy with a string rule list', () => {
    const head = (kind: string) => ({
      apiVersion: `${kind === 'NetworkPolicy' ? 'networking.k8s.io' : 'rbac.authorization.k8s.io'}/v1`,
      kind,
      metadata: { name: 'x', namespace: 'ml-dev' },
    });
    expect(
      rbacProblems([
        { ...head('Role'), rules: { verbs: ['get'] } },
        { ...head('Role'), rules: [{ verbs: 'get', resources: ['pods'] }] },
        head('RoleBinding'),
      ]),
    ).toEqual([
      'Role/x: cannot check its rules: /rules: must be array',
      'Role/x: cannot check its rules: /rules/0/verbs: must be array',
      'RoleBinding/x: cannot check what it binds: /roleRef: must be object',
    ]);
    expect(networkPolicyProblems([{ ...head('NetworkPolicy'), spec: { ingress: 'all' } }])).toEqual([
      'NetworkPolicy/x: cannot check its rules: /spec/ingress: must be array',
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
