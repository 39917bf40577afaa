// Renders the real overlays with real Kustomize in a temp copy of the repo
// (with a temp lock and generated pins), and checks that a broken object, a
// missing probe or limit, and a pin that is not in the lock each fail with
// the exact message a user sees.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import { PIN_FILE } from '../model/pin.ts';
import { isProjectError } from '../platform/errors.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import {
  edit,
  fakeEntry,
  fakeImage,
  fakeVersion,
  MODEL,
  tempRepo,
  writePins,
} from '../testing/gitops/repo.ts';
import { needs } from '../testing/services.ts';
import { NO_MODEL_LEAVES_OUT, renderNoModelPin, writePin } from './pin.ts';
import { formatTable, renderAll, summarize, writeRendered } from './render.ts';
import { findKustomize, type KustomizeTool } from './tools.ts';

const { describe } = needs(kustomizeInstalled());
let kustomize: KustomizeTool;
const roots: string[] = [];

beforeAll(async () => {
  kustomize = await findKustomize();
});
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

/** The kinds a pinned environment renders, sorted (two ConfigMaps: the server's settings and the signing policy). */
const ENVIRONMENT_KINDS = [
  'ConfigMap',
  'ConfigMap',
  'Deployment',
  'HorizontalPodAutoscaler',
  'NetworkPolicy',
  'PodDisruptionBudget',
  'Role',
  'RoleBinding',
  'Service',
  'ServiceAccount',
  'ServiceMonitor',
];

/** A temp repo with every environment pinned as the lock says. */
async function pinnedRepo(): Promise<string> {
  const root = await tempRepo();
  roots.push(root);
  await writePins(root);
  return root;
}

/** The problems of a render that must fail (only `envs` when given, to keep the test quick). */
async function problemsOf(root: string, envs?: string[]): Promise<string[]> {
  try {
    await renderAll({ root, kustomize, envs });
  } catch (e) {
    if (isProjectError(e) && e.code === 'INVALID') return e.details as string[];
    throw e;
  }
  throw new Error('render passed, a problem was expected');
}

describe('renderAll (real Kustomize)', () => {
  test('renders every environment and manifests folder, valid, deterministic', async () => {
    const root = await pinnedRepo();
    const report = await renderAll({ root, kustomize });
    expect(report.targets.map((t) => t.target.id)).toEqual([
      'environments/dev',
      'environments/prod',
      'environments/staging',
      'manifests/alert-relay',
      'manifests/argocd',
      'manifests/ci-access',
      'manifests/monitoring',
      'manifests/scoring-job',
      'manifests/training-job',
    ]);
    const rows = summarize(report);
    const byId = Object.fromEntries(rows.map((r) => [r.target, r]));
    expect(byId['environments/dev']).toMatchObject({
      namespace: 'ml-dev',
      replicas: '1 (hpa 1-2)',
      model: `${MODEL}@${fakeVersion('2')}`,
      image: fakeImage(fakeVersion('2')),
    });
    expect(byId['environments/prod']).toMatchObject({
      namespace: 'ml-prod',
      replicas: '3 (hpa 3-10)',
      model: `${MODEL}@${fakeVersion('1')}`,
    });
    expect(byId['environments/staging']?.replicas).toBe('2 (hpa 2-4)');
    expect(formatTable(rows)).toMatch(
      new RegExp(
        `^environments/prod +ml-prod +11 +3 \\(hpa 3-10\\) +demo-classifier@${fakeVersion('1')} +ghcr`,
        'm',
      ),
    );

    const dev = report.targets.find((t) => t.target.id === 'environments/dev')!;
    const kinds = dev.objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(ENVIRONMENT_KINDS);
    const dep = dev.objects.find((o) => o.kind === 'Deployment') as unknown as IDeployment;
    const env = Object.fromEntries(
      dep.spec!.template.spec!.containers[0]!.env!.map((e) => [e.name, e.value]),
    );
    expect(env.SERVING_MODEL_VERSION).toBe(fakeVersion('2'));
    expect(env.SERVING_MODEL_SHA256).toBe(fakeEntry('2').rootDigest);
    expect(dep.spec!.template.metadata!.annotations!['ml.gitops/model-version']).toBe(fakeVersion('2'));
    // The object store: endpoint, region and bucket in the ConfigMap, the key pair from a Secret
    // (only those two keys), and the NetworkPolicy lets the server reach it and nothing more.
    const container = dep.spec!.template.spec!.containers[0]!;
    const configMap = (prefix: string) =>
      dev.objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata?.name?.startsWith(prefix),
      ) as unknown as IConfigMap;
    const cm = configMap('model-server-config-');
    const signing = configMap('model-signing-policy-');
    expect(container.envFrom).toEqual([
      { configMapRef: { name: cm.metadata!.name } },
      { configMapRef: { name: signing.metadata!.name } },
    ]);
    // Nothing unsigned runs: every server gets the signing policy in Git (docs/signing.md).
    expect(JSON.parse(signing.data!.SERVING_SIGNING_POLICY!)).toEqual(
      JSON.parse(
        await readFile(join(import.meta.dirname, '..', 'manifests/base/signing-policy.json'), 'utf8'),
      ),
    );
    expect(cm.data).toMatchObject({
      OBJECT_STORE_ENDPOINT: 'http://object-store.object-store.svc.cluster.local:8333',
      OBJECT_STORE_REGION: 'us-east-1',
      OBJECT_STORE_BUCKET: 'gitops-ml',
      // Payload capture's sampling, per environment in Git (docs/capture.md).
      SERVING_CAPTURE_SAMPLE: '1.0',
    });
    // Secrets: the store's key pair, and the key that signs feedback ids (the same for every replica).
    expect(container.env!.filter((e) => e.valueFrom?.secretKeyRef)).toEqual([
      ...['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].map((key) => ({
        name: key,
        valueFrom: { secretKeyRef: { name: 'object-store-credentials', key, optional: true } },
      })),
      {
        name: 'SERVING_ID_KEY',
        valueFrom: { secretKeyRef: { name: 'model-server-id-key', key: 'SERVING_ID_KEY', optional: true } },
      },
    ]);
    const policy = dev.objects.find((o) => o.kind === 'NetworkPolicy') as unknown as INetworkPolicy;
    expect(policy.spec!.egress).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'object-store' } } }],
      ports: [{ port: 8333, protocol: 'TCP' }],
    });

    const out1 = join(root, 'out1');
    const out2 = join(root, 'out2');
    const paths = await writeRendered(out1, report);
    await writeRendered(out2, await renderAll({ root, kustomize }));
    expect(paths.map((p) => p.slice(out1.length + 1))).toEqual([
      'environments/dev.yaml',
      'environments/prod.yaml',
      'environments/staging.yaml',
      'manifests/alert-relay.yaml',
      'manifests/argocd.yaml',
      'manifests/ci-access.yaml',
      'manifests/monitoring.yaml',
      'manifests/scoring-job.yaml',
      'manifests/training-job.yaml',
    ]);
    for (const p of paths) {
      expect(await readFile(p, 'utf8')).toBe(await readFile(p.replace(out1, out2), 'utf8'));
    }
  });

  test('the HPA scales on CPU; the hpa-requests-in-flight component adds in-flight requests per pod', async () => {
    const root = await pinnedRepo();
    const metricsOf = async () => {
      const report = await renderAll({ root, kustomize: kustomize!, envs: ['prod'] });
      const prod = report.targets.find((t) => t.target.id === 'environments/prod')!;
      const hpa = prod.objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as unknown as {
        spec: { metrics: unknown };
      };
      return hpa.spec.metrics;
    };
    const cpu = {
      type: 'Resource',
      resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
    };
    expect(await metricsOf()).toEqual([cpu]);
    await edit(
      root,
      'environments/prod/kustomization.yaml',
      'patches:\n',
      'components:\n  - ../../manifests/components/hpa-requests-in-flight\npatches:\n',
    );
    expect(await metricsOf()).toEqual([
      cpu,
      {
        type: 'Pods',
        pods: {
          metric: { name: 'serving_http_requests_in_flight' },
          target: { type: 'AverageValue', averageValue: '8' },
        },
      },
    ]);
  });

  test('the canary component: one line opts an environment in; the Rollout and AnalysisTemplate pass their CRD schemas and the policy', async () => {
    const root = await pinnedRepo();
    const optIn = 'components:\n  - ../../manifests/components/canary\npatches:\n';
    await edit(root, 'environments/staging/kustomization.yaml', 'patches:\n', optIn);
    const report = await renderAll({ root, kustomize: kustomize!, envs: ['staging'] });
    const staging = report.targets.find((t) => t.target.id === 'environments/staging')!;
    const byKind = (kind: string) =>
      staging.objects.find((o) => o.kind === kind) as unknown as {
        metadata: { namespace: string };
        spec: Record<string, unknown>;
      };
    // The Deployment keeps the pin; the Rollout runs its template, scaled by the HPA (no count of its own).
    expect(byKind('Rollout').spec.replicas).toBeUndefined();
    expect(byKind('Rollout').spec).toMatchObject({
      workloadRef: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'model-server',
        scaleDown: 'onsuccess',
      },
    });
    expect(byKind('Rollout').metadata.namespace).toBe('ml-staging');
    expect(byKind('HorizontalPodAutoscaler').spec.scaleTargetRef).toEqual({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      name: 'model-server',
    });
    expect(byKind('ServiceMonitor').spec.podTargetLabels).toEqual(['rollouts-pod-template-hash']);
    const metrics = (byKind('AnalysisTemplate').spec.metrics as { name: string }[]).map((m) => m.name);
    expect(metrics).toEqual(['error-ratio', 'p99-latency', 'drift', 'live-accuracy']);
    expect(summarize(report)[0]).toMatchObject({ target: 'environments/staging', replicas: '2 (hpa 2-4)' });

    // A misspelled field is named; and the project must allow the kinds.
    await edit(
      root,
      'manifests/components/canary/rollout.yaml',
      'scaleDown: onsuccess',
      'scaledown: onsuccess',
    );
    await edit(
      root,
      'manifests/argocd/appproject.yaml',
      '    - group: argoproj.io\n      kind: Rollout\n',
      '',
    );
    expect(await problemsOf(root, ['staging'])).toEqual([
      'environments/staging: Rollout/model-server: schema: /spec/workloadRef: unknown field "scaledown"',
      'environments/staging: kind Rollout (group "argoproj.io") is not in AppProject/ml-serving namespaceResourceWhitelist',
    ]);
  });

  test("regression: the NetworkPolicy's peers keep their own selectors (kube-dns, Prometheus); the server's selectors carry the app's labels", async () => {
    const root = await pinnedRepo();
    const report = await renderAll({ root, kustomize, envs: ['staging'] });
    const objects = report.targets.find((t) => t.target.id === 'environments/staging')!.objects;
    const spec = (kind: string) => (objects.find((o) => o.kind === kind) as unknown as { spec: never }).spec;
    type Rule = { from?: { podSelector?: { matchLabels?: object } }[]; to?: typeof undefined | Rule['from'] };
    const peerSelectors = (rules: Rule[]) =>
      rules
        .flatMap((r) => r.from ?? r.to ?? [])
        .flatMap((p) => (p.podSelector ? [p.podSelector.matchLabels] : []));
    const policy = spec('NetworkPolicy') as { ingress: Rule[]; egress: Rule[]; podSelector: unknown };
    expect(peerSelectors(policy.ingress)).toEqual([{ 'app.kubernetes.io/name': 'prometheus' }]);
    expect(peerSelectors(policy.egress)).toEqual([{ 'k8s-app': 'kube-dns' }]);
    const own = {
      'app.kubernetes.io/component': 'server',
      'app.kubernetes.io/name': 'model-server',
      'app.kubernetes.io/part-of': 'gitops-ml',
    };
    expect(policy.podSelector).toEqual({ matchLabels: own });
    expect((spec('Deployment') as { selector: unknown }).selector).toEqual({ matchLabels: own });
    expect((spec('Service') as { selector: unknown }).selector).toEqual(own);
    expect((spec('PodDisruptionBudget') as { selector: unknown }).selector).toEqual({ matchLabels: own });
    const template = (spec('Deployment') as { template: { metadata: { labels: object } } }).template;
    expect(template.metadata.labels).toMatchObject(own);
  });

  test('the shadow component: staging mirrors to dev with two lines each; pods labelled, NetworkPolicies open between model servers only', async () => {
    const root = await pinnedRepo();
    const optIn = 'components:\n  - ../../manifests/components/shadow\npatches:\n';
    for (const env of ['staging', 'dev'])
      await edit(root, `environments/${env}/kustomization.yaml`, 'patches:\n', optIn);
    await edit(
      root,
      'environments/staging/kustomization.yaml',
      '      - SERVING_CAPTURE_SAMPLE=0.5\n',
      '      - SERVING_CAPTURE_SAMPLE=0.5\n      - SERVING_SHADOW_URL=http://model-server.ml-dev.svc.cluster.local\n',
    );
    const report = await renderAll({ root, kustomize, envs: ['staging', 'dev'] });
    for (const env of ['staging', 'dev']) {
      const objects = report.targets.find((t) => t.target.id === `environments/${env}`)!.objects;
      const of = (kind: string) =>
        objects.find((o) => o.kind === kind) as unknown as { spec: never; data: never };
      const deployment = of('Deployment').spec as {
        template: { metadata: { labels: Record<string, string> } };
      };
      expect(deployment.template.metadata.labels['ml.gitops/shadow']).toBe('on');
      const policy = of('NetworkPolicy').spec as { ingress: unknown[]; egress: unknown[] };
      const rule = (key: 'from' | 'to') => ({
        [key]: [
          {
            namespaceSelector: {},
            podSelector: {
              matchLabels: { 'app.kubernetes.io/component': 'server', 'ml.gitops/shadow': 'on' },
            },
          },
        ],
        ports: [{ port: 8080, protocol: 'TCP' }],
      });
      expect(policy.ingress.at(-1)).toEqual(rule('from'));
      expect(policy.egress.at(-1)).toEqual(rule('to'));
      const config = of('ConfigMap').data as Record<string, string>;
      expect(config.SERVING_SHADOW_URL).toBe(
        env === 'staging' ? 'http://model-server.ml-dev.svc.cluster.local' : undefined,
      );
    }
  });

  test('a pin that names a version not in the lock fails', async () => {
    const root = await pinnedRepo();
    await writePin(join(root, 'environments', 'dev'), {
      model: MODEL,
      version: fakeVersion('7'),
      entry: fakeEntry('7'),
    });
    expect(await problemsOf(root, ['dev'])).toEqual([
      `environments/dev: pins ${MODEL} version "${fakeVersion('7')}", which is not in models.lock.json (versions: ${[fakeVersion('1'), fakeVersion('2')].sort().join(', ')})`,
    ]);
  });

  test('a pin whose digests are not the lock entry fails', async () => {
    const root = await pinnedRepo();
    await writePin(join(root, 'environments', 'staging'), {
      model: MODEL,
      version: fakeVersion('2'),
      entry: fakeEntry('1'),
      image: fakeImage(fakeVersion('2')),
    });
    expect(await problemsOf(root, ['staging'])).toEqual([
      `environments/staging: Deployment/model-server: SERVING_MODEL_URI is "mlflow-artifacts:/1/run1/artifacts/model", models.lock.json ${MODEL}@${fakeVersion('2')} says "mlflow-artifacts:/1/run2/artifacts/model"`,
      `environments/staging: Deployment/model-server: SERVING_MODEL_DIGESTS differs from models.lock.json ${MODEL}@${fakeVersion('2')} digests`,
      `environments/staging: Deployment/model-server: SERVING_MODEL_SHA256 is "${fakeEntry('1').rootDigest}", models.lock.json ${MODEL}@${fakeVersion('2')} says "${fakeEntry('2').rootDigest}"`,
      `environments/staging: Deployment/model-server: pod annotation ml.gitops/model-sha256 is "${fakeEntry('1').rootDigest}", expected "${fakeEntry('2').rootDigest}"`,
    ]);
  });

  test('a tag without a digest is refused in staging and prod, allowed in dev', async () => {
    const root = await pinnedRepo();
    const tag = 'ghcr.io/acme/model-server:v1.2';
    for (const env of ['dev', 'staging']) {
      await writePin(join(root, 'environments', env), {
        model: MODEL,
        version: fakeVersion('2'),
        entry: fakeEntry('2'),
        image: tag,
      });
    }
    const recorded = fakeImage(fakeVersion('2'));
    expect(await problemsOf(root, ['dev', 'staging'])).toEqual([
      `environments/dev: Deployment/model-server container "server": image is ${tag}, but models.lock.json records ${recorded} for dev`,
      `environments/staging: Deployment/model-server container "server": image ${tag} is a tag without a digest; staging runs only images by digest (promote it from the environment before it, which carries the image@sha256 it ran)`,
      `environments/staging: Deployment/model-server container "server": image is ${tag}, but models.lock.json records ${recorded} for staging`,
    ]);
  });

  test("regression (issue 23.10): the training namespace has a NetworkPolicy: no ingress; egress to DNS, MLflow, the object store and HTTPS outside the cluster's private ranges", async () => {
    const root = await pinnedRepo();
    const report = await renderAll({ root, kustomize, envs: ['dev'] });
    const objects = report.targets.find((t) => t.target.id === 'manifests/training-job')!.objects;
    const np = objects.find((o) => o.kind === 'NetworkPolicy') as unknown as INetworkPolicy;
    const job = objects.find((o) => o.kind === 'Job') as unknown as {
      spec: { template: { metadata: { labels: object } } };
    };
    expect(np.metadata?.namespace).toBe('ml-training');
    // It selects the Job's pods (the kustomization's labels reach the pod template).
    expect(job.spec.template.metadata.labels).toMatchObject(np.spec!.podSelector!.matchLabels!);
    expect(np.spec!.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec!.ingress).toBeUndefined();
    const to = np.spec!.egress!.map((r) => ({
      to:
        r.to?.[0]?.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] ??
        `${r.to?.[0]?.ipBlock?.cidr} except ${r.to?.[0]?.ipBlock?.except?.join(',')}`,
      ports: r.ports?.map((p) => `${p.port}/${p.protocol}`).join(','),
    }));
    expect(to).toEqual([
      { to: 'kube-system', ports: '53/UDP,53/TCP' },
      { to: 'mlflow', ports: '5000/TCP' },
      { to: 'object-store', ports: '8333/TCP' },
      {
        to: '0.0.0.0/0 except 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16',
        ports: '443/TCP',
      },
    ]);
  });

  test('the alert relay: non-root, read-only, the shared secret mounted where the script reads it, reachable from Alertmanager only', async () => {
    const root = await pinnedRepo();
    const report = await renderAll({ root, kustomize, envs: ['dev'] });
    const objects = report.targets.find((t) => t.target.id === 'manifests/alert-relay')!.objects;
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual([
      'Deployment/alert-relay',
      'NetworkPolicy/alert-relay',
      'Service/alert-relay',
      'ServiceAccount/alert-relay',
    ]);
    for (const o of objects) expect(o.metadata?.namespace).toBe('ml-monitoring');
    const dep = objects.find((o) => o.kind === 'Deployment') as unknown as IDeployment;
    const c = dep.spec!.template.spec!.containers[0]!;
    expect(c.args).toEqual(['--host', '0.0.0.0', '--port', '8080']);
    const file = c.env?.find((e) => e.name === 'ALERT_RELAY_TOKEN_FILE')?.value;
    const mount = c.volumeMounts?.find((m) => m.name === 'shared-secret');
    expect(file).toBe(`${mount?.mountPath}/token`);
    expect(mount?.readOnly).toBe(true);
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(dep.spec!.template.spec!.automountServiceAccountToken).toBe(false);
    const np = objects.find((o) => o.kind === 'NetworkPolicy') as unknown as INetworkPolicy;
    expect(dep.spec!.template.metadata!.labels).toMatchObject(
      np.spec?.podSelector?.matchLabels ?? { none: 'none' },
    );
    expect(np.spec?.podSelector?.matchLabels).toEqual({ 'app.kubernetes.io/name': 'alert-relay' });
    expect(np.spec!.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec!.ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'alertmanager' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ]);
    // The Service Alertmanager's webhook URL names (monitoring/alertmanager/alertmanager.yml).
    const svc = objects.find((o) => o.kind === 'Service') as unknown as IService;
    expect(
      `https://${svc.metadata?.name}.${svc.metadata?.namespace}.svc:${svc.spec?.ports?.[0]?.port}/alerts`,
    ).toBe('https://alert-relay.ml-monitoring.svc:8080/alerts');
  });

  test('an environment without model-pin.yaml fails and names the promote command', async () => {
    const root = await pinnedRepo();
    await rm(join(root, 'environments', 'prod', 'model-pin.yaml'));
    expect(await problemsOf(root, ['prod'])).toEqual([
      'environments/prod: no model-pin.yaml: no model version is pinned to prod; promote one first (npm run promote -- --env prod)',
    ]);
  });

  test('a fresh fork: every environment on the "no model yet" pin renders, passes every check and runs no server', async () => {
    const root = await tempRepo({ lockfileVersion: 2, models: {} });
    roots.push(root);
    for (const env of ['dev', 'staging', 'prod']) {
      await writeFile(join(root, 'environments', env, PIN_FILE), renderNoModelPin(env));
    }
    const report = await renderAll({ root, kustomize });
    const rows = summarize(report).filter((r) => r.target.startsWith('environments/'));
    expect(rows.map((r) => [r.target, r.model, r.image, r.replicas])).toEqual(
      ['dev', 'prod', 'staging'].map((e) => [`environments/${e}`, 'none yet', '-', '-']),
    );
    const dev = report.targets.find((t) => t.target.env === 'dev')!;
    const left = new Set<string>(NO_MODEL_LEAVES_OUT.map((o) => o.kind));
    expect(dev.objects.map((o) => o.kind).sort()).toEqual(ENVIRONMENT_KINDS.filter((k) => !left.has(k)));
    expect([...left].sort()).toEqual(['Deployment', 'HorizontalPodAutoscaler']);
  });

  test('the "no model yet" pin of an environment the lock pins is refused, naming the command that writes its pin', async () => {
    const root = await pinnedRepo();
    await writeFile(join(root, 'environments', 'prod', PIN_FILE), renderNoModelPin('prod'));
    const v = fakeVersion('1');
    expect(await problemsOf(root, ['prod'])).toEqual([
      `environments/prod: no Deployment/model-server rendered, but models.lock.json pins prod to ${MODEL}@${v}: environments/prod/model-pin.yaml is not its pin (npm run promote -- --env prod --version ${v} writes it)`,
    ]);
  });

  test('a missing readiness probe fails in every environment', async () => {
    const root = await pinnedRepo();
    await edit(root, 'manifests/base/deployment.yaml', /\n {10}readinessProbe:\n(?: {12}.*\n)+/, '\n');
    expect(await problemsOf(root)).toEqual(
      ['dev', 'prod', 'staging'].map(
        (e) => `environments/${e}: Deployment/model-server container "server": no readinessProbe`,
      ),
    );
  });

  test('a missing memory limit fails', async () => {
    const root = await pinnedRepo();
    await edit(root, 'manifests/base/deployment.yaml', '              memory: 1Gi\n', '');
    await edit(root, 'environments/dev/resources.yaml', '              memory: 512Mi\n', '');
    expect(await problemsOf(root, ['dev'])).toEqual([
      'environments/dev: Deployment/model-server container "server": no resources.limits.memory',
    ]);
  });

  test('a container that may escalate privileges fails (the first in job.yaml: the checkout init container)', async () => {
    const root = await pinnedRepo();
    await edit(
      root,
      'manifests/training-job/job.yaml',
      'allowPrivilegeEscalation: false',
      'allowPrivilegeEscalation: true',
    );
    expect(await problemsOf(root, ['dev'])).toEqual([
      'manifests/training-job: Job/model-training init container "checkout": allowPrivilegeEscalation is not false',
    ]);
  });

  test('a Role with a wildcard or Secrets, and a NetworkPolicy rule open to everyone, fail (least privilege)', async () => {
    const root = await pinnedRepo();
    await edit(
      root,
      'manifests/training-job/submitter-rbac.yaml',
      'verbs: ["create", "get", "delete"]',
      'verbs: ["*"]',
    );
    await edit(
      root,
      'manifests/ci-access/argocd-rbac.yaml',
      'resources: ["applications"]',
      'resources: ["applications", "secrets"]',
    );
    await edit(
      root,
      'manifests/base/networkpolicy.yaml',
      /\n {4}- from:\n {8}- namespaceSelector:\n {12}matchLabels:\n {14}kubernetes.io\/metadata.name: ingress-nginx\n {6}ports:\n/,
      '\n    - ports:\n',
    );
    expect(await problemsOf(root, ['dev'])).toEqual([
      'environments/dev: NetworkPolicy/model-server: ingress[0] has no "from": it admits every source',
      'manifests/ci-access: Role/rollout-verifier: rules[0]: reaches Secrets',
      'manifests/training-job: Role/training-submitter: rules[0]: verbs has "*"; list what is needed',
    ]);
  });

  test('an object that breaks its schema fails, naming the field', async () => {
    const root = await pinnedRepo();
    await edit(root, 'manifests/base/hpa.yaml', 'averageUtilization: 70', 'averageUtilization: high');
    await edit(root, 'manifests/argocd/applicationset.yaml', 'goTemplate: true', 'goTemplate: "yes"');
    expect(await problemsOf(root)).toEqual([
      ...['dev', 'prod', 'staging'].map(
        (e) =>
          `environments/${e}: HorizontalPodAutoscaler/model-server: schema: /spec/metrics/0/resource/target/averageUtilization: must be integer`,
      ),
      'manifests/argocd: ApplicationSet/model-server: schema: /spec/goTemplate: must be boolean',
    ]);
  });

  test('a malformed pod spec is a problem in the report, not a TypeError', async () => {
    const root = await pinnedRepo();
    await edit(root, 'manifests/training-job/job.yaml', 'drop: ["ALL"]', 'drop: 5');
    expect(await problemsOf(root, ['dev'])).toEqual([
      // The first drop list in job.yaml is the checkout init container's.
      'manifests/training-job: Job/model-training: schema: /spec/template/spec/initContainers/0/securityContext/capabilities/drop: must be array',
      'manifests/training-job: Job/model-training: cannot check the pod spec: /spec/template/spec/initContainers/0/securityContext/capabilities/drop: must be array',
    ]);
  });

  test('a kind the AppProject does not allow fails', async () => {
    const root = await pinnedRepo();
    await edit(
      root,
      'manifests/argocd/appproject.yaml',
      '    - group: policy\n      kind: PodDisruptionBudget\n',
      '',
    );
    expect(await problemsOf(root)).toEqual(
      ['dev', 'prod', 'staging'].map(
        (e) =>
          `environments/${e}: kind PodDisruptionBudget (group "policy") is not in AppProject/ml-serving namespaceResourceWhitelist`,
      ),
    );
  });
});
