/**
 * The Roles the manifests ship (issue 11.5: least privilege in the cluster),
 * rendered with real Kustomize and applied to a real kube-apiserver that
 * authorizes with RBAC; then each CI identity acts with a real token of its
 * ServiceAccount (TokenRequest): every call verify-rollout and the training
 * Job submitter make is allowed, and the calls next to them (another
 * object, Secrets, changes, another namespace, pods/exec) are 403.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type RequestOptions, request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { buildSyncOperation, makeSmokePng, type SyncedApplication } from '../pipelines/verify/index.ts';
import { smokePredict } from '../pipelines/verify/smoke.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { fakeLock, fakeVersion, MODEL, REPO_ROOT, tempRepo, writePins } from '../testing/gitops/repo.ts';
import {
  ensureNamespace,
  type KubeApiServer,
  kubeApiServerInstalled,
  startKubeApiServer,
} from '../testing/kube.ts';
import { needs, requirement } from '../testing/services.ts';
import { installCrds } from '../tools/cluster/kube.ts';
import { argocdDir } from '../tools/cluster/tools.ts';
import { renderAll } from './render.ts';
import { findKustomize } from './tools.ts';

/** Argo CD's own Application CRD (scripts/setup.d/62-argocd.sh), not a trimmed copy. */
const CRD = join(argocdDir(), 'manifests', 'crds', 'application-crd.yaml');
const argocdCrd = requirement(
  'Argo CD CRDs',
  existsSync(CRD) ? CRD : undefined,
  'bash scripts/setup.d/62-argocd.sh',
);

let kube: KubeApiServer | undefined;
let admin: KubeConfig;
let root: string | undefined;
/** A kubeconfig per CI identity, with a real token of its ServiceAccount. */
const as: Record<'verifier' | 'submitter', KubeConfig> = {} as never;
/** The training Job as manifests/training-job renders it: the shape the submitter sends. */
let trainingJob: { metadata: Record<string, unknown>; spec: { template: { spec: Record<string, unknown> } } };

/** Status of a raw request as `kc` (the log endpoint: the typed client cannot parse its plain-text answers). */
async function rawStatus(kc: KubeConfig, method: string, path: string): Promise<number> {
  const opts: RequestOptions = { method, timeout: 10_000 };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, kc.getCurrentCluster()!.server), opts, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** HTTP status of a call: 200 when it resolves, the API's code when it is refused. */
async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
}

// Every test needs both; jest runs no hook of a file whose tests are all skipped.
const withKube = needs(kustomizeInstalled(), argocdCrd, ...kubeApiServerInstalled()).it;

beforeAll(async () => {
  const kustomize = await findKustomize();
  kube = await startKubeApiServer({ authorization: 'RBAC' });
  admin = new KubeConfig();
  admin.loadFromFile(kube.kubeconfigPath);

  // What the repository ships: the dev environment, manifests/ci-access, manifests/training-job.
  root = await tempRepo();
  await writePins(root); // the pins of fakeLock(), each with its image by digest
  expect(fakeLock().models[MODEL]?.pins.dev).toBe(fakeVersion('2'));
  const report = await renderAll({ root, kustomize, envs: ['dev'] });
  const wanted = new Set([
    'Namespace',
    'ServiceAccount',
    'Role',
    'RoleBinding',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
  ]);
  for (const ns of ['ml-dev', 'ml-training', 'ml-scoring', 'argocd', 'ml-staging', 'ml-monitoring'])
    await ensureNamespace(admin, ns);
  const objects = KubernetesObjectApi.makeApiClient(admin);
  for (const t of report.targets) {
    for (const o of t.objects) {
      if (o.kind === 'Job' && o.metadata?.name === 'model-training')
        trainingJob = structuredClone(o) as never;
      if (!wanted.has(o.kind) || (o.kind === 'Namespace' && o.metadata?.name !== 'ml-ci')) continue;
      await objects.create(o as never);
    }
  }

  // What Argo CD and the Deployment would have made in dev.
  await installCrds(admin, [CRD], 30_000);
  const custom = admin.makeApiClient(CustomObjectsApi);
  for (const name of ['model-server-dev', 'model-server-prod', 'other-app']) {
    await custom.createNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: 'argocd',
      plural: 'applications',
      body: {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name },
        spec: {
          project: 'ml-serving',
          source: {
            repoURL: 'https://github.com/acme/models.git',
            path: name === 'model-server-prod' ? 'environments/prod' : 'environments/dev',
            targetRevision: 'main',
          },
          destination: { server: 'https://kubernetes.default.svc', namespace: 'ml-dev' },
          syncPolicy: { syncOptions: ['ServerSideApply=true'] },
        },
      },
    });
  }
  const labels = { 'app.kubernetes.io/name': 'model-server' };
  const container = { name: 'server', image: 'ghcr.io/acme/model-server:test' };
  const apps = admin.makeApiClient(AppsV1Api);
  const core = admin.makeApiClient(CoreV1Api);
  for (const name of ['model-server', 'other']) {
    await apps.createNamespacedDeployment({
      namespace: 'ml-dev',
      body: {
        metadata: { name, labels },
        spec: {
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [container] } },
        },
      },
    });
    await core.createNamespacedService({
      namespace: 'ml-dev',
      body: {
        metadata: { name },
        spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    });
  }
  await core.createNamespacedPod({
    namespace: 'ml-training',
    body: {
      metadata: { name: 'trainer-0', labels: { 'job-name': 'run-1' } },
      spec: { containers: [{ ...container, name: 'trainer' }] },
    },
  });

  // A short-lived token for each CI identity, as `kubectl -n ml-ci create token <sa>` gets one.
  for (const [key, sa] of [
    ['verifier', 'rollout-verifier'],
    ['submitter', 'training-submitter'],
  ] as const) {
    const tr = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: 'ml-ci',
      body: { spec: { expirationSeconds: 600, audiences: [] } },
    });
    const kc = new KubeConfig();
    const cluster = admin.getCurrentCluster()!;
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: sa, token: tr.status?.token }],
      contexts: [{ name: sa, cluster: cluster.name, user: sa }],
      currentContext: sa,
    });
    as[key] = kc;
  }
}, 300_000);

afterAll(async () => {
  await kube?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the shipped Roles on a real API server (RBAC)', () => {
  withKube(
    'rollout-verifier: every read verify-rollout makes is allowed, and /predict through the service proxy',
    async () => {
      const kc = as.verifier;
      const custom = kc.makeApiClient(CustomObjectsApi);
      const apps = kc.makeApiClient(AppsV1Api);
      const core = kc.makeApiClient(CoreV1Api);
      const app = (name: string) => () =>
        custom.getNamespacedCustomObject({
          group: 'argoproj.io',
          version: 'v1alpha1',
          namespace: 'argocd',
          plural: 'applications',
          name,
        });
      expect({
        application: await statusOf(app('model-server-dev')),
        deployment: await statusOf(() =>
          apps.readNamespacedDeployment({ name: 'model-server', namespace: 'ml-dev' }),
        ),
        pods: await statusOf(() =>
          core.listNamespacedPod({
            namespace: 'ml-dev',
            labelSelector: 'app.kubernetes.io/name=model-server',
          }),
        ),
        service: await statusOf(() =>
          core.readNamespacedService({ name: 'model-server', namespace: 'ml-dev' }),
        ),
      }).toEqual({ application: 200, deployment: 200, pods: 200, service: 200 });
      // The proxy is authorized: the API server then finds no Endpoints behind the Service
      // (no endpoints controller runs here) and answers 404; the other Service is refused: 403.
      const target = {
        kind: 'proxy' as const,
        kubeConfig: kc,
        namespace: 'ml-dev',
        service: 'model-server',
        port: 'http',
      };
      const smoke = await smokePredict(target, {
        image: makeSmokePng(),
        contentType: 'image/png',
        version: fakeVersion('2'),
        timeoutMs: 10_000,
      });
      expect(smoke.detail).toMatch(/: HTTP 404 .*not found/);
      // Another Service is refused (403), which is fatal, naming the Role to change.
      await expect(
        smokePredict(
          { ...target, service: 'other' },
          { image: makeSmokePng(), contentType: 'image/png', version: fakeVersion('2'), timeoutMs: 10_000 },
        ),
      ).rejects.toThrow(/HTTP 403 .*forbidden/);
    },
  );

  withKube(
    'rollout-verifier: nothing next to it (another object, Secrets, a change, another namespace, exec)',
    async () => {
      const kc = as.verifier;
      const custom = kc.makeApiClient(CustomObjectsApi);
      const apps = kc.makeApiClient(AppsV1Api);
      const core = kc.makeApiClient(CoreV1Api);
      expect({
        otherApplication: await statusOf(() =>
          custom.getNamespacedCustomObject({
            group: 'argoproj.io',
            version: 'v1alpha1',
            namespace: 'argocd',
            plural: 'applications',
            name: 'other-app',
          }),
        ),
        listApplications: await statusOf(() =>
          custom.listNamespacedCustomObject({
            group: 'argoproj.io',
            version: 'v1alpha1',
            namespace: 'argocd',
            plural: 'applications',
          }),
        ),
        otherDeployment: await statusOf(() =>
          apps.readNamespacedDeployment({ name: 'other', namespace: 'ml-dev' }),
        ),
        secrets: await statusOf(() => core.listNamespacedSecret({ namespace: 'ml-dev' })),
        deleteDeployment: await statusOf(() =>
          apps.deleteNamespacedDeployment({ name: 'model-server', namespace: 'ml-dev' }),
        ),
        anotherEnvironment: await statusOf(() => core.listNamespacedPod({ namespace: 'ml-staging' })),
        exec: await statusOf(() =>
          core.connectPostNamespacedPodExec({
            name: 'x',
            namespace: 'ml-dev',
            command: 'sh',
            container: 'server',
          }),
        ),
      }).toEqual({
        otherApplication: 403,
        listApplications: 403,
        otherDeployment: 403,
        secrets: 403,
        deleteDeployment: 403,
        anotherEnvironment: 403,
        exec: 403,
      });
    },
  );

  withKube(
    'regression (issue 23.1): rollout-verifier may request a sync of prod, but not choose what is synced (revision, revisions, source, sources, manifests, sync options)',
    async () => {
      const ref = {
        group: 'argoproj.io',
        version: 'v1alpha1',
        namespace: 'argocd',
        plural: 'applications',
        name: 'model-server-prod',
      };
      const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
      const asVerifier = as.verifier.makeApiClient(CustomObjectsApi);
      const asAdmin = admin.makeApiClient(CustomObjectsApi);
      const app = (await asAdmin.getNamespacedCustomObject(ref)) as SyncedApplication;
      const legit = buildSyncOperation(app, { initiatedBy: 'verify.yml', prune: true });
      /** The verifier's patch of `operation`: 'ok', or the policy's message; the admin clears it after. */
      const request = async (operation: unknown): Promise<string> => {
        try {
          await asVerifier.patchNamespacedCustomObject({ ...ref, body: { operation } }, merge);
          return 'ok';
        } catch (e) {
          if (!(e instanceof ApiException) || e.code !== 422) throw e;
          const body = String(e.body);
          expect(body).toContain("ValidatingAdmissionPolicy 'rollout-verifier-sync-only'");
          return /denied request: (.*?)"/.exec(body)?.[1] ?? body;
        } finally {
          await asAdmin.patchNamespacedCustomObject({ ...ref, body: { operation: null } }, merge);
        }
      };
      // The policy is loaded by the API server a moment after it was created.
      const deadline = Date.now() + 30_000;
      while ((await request({ ...legit, sync: { ...legit.sync, revision: 'a'.repeat(40) } })) === 'ok') {
        if (Date.now() > deadline) throw new Error('the admission policy never took effect');
        await new Promise((r) => setTimeout(r, 250));
      }
      const other = { repoURL: 'https://github.com/evil/models.git', path: 'x', targetRevision: 'main' };
      const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'x' } };
      const sync = legit.sync;
      expect({
        legit: await request(legit),
        revision: await request({ ...legit, sync: { ...sync, revision: 'a'.repeat(40) } }),
        revisions: await request({ ...legit, sync: { ...sync, revisions: ['a'.repeat(40)] } }),
        source: await request({ ...legit, sync: { ...sync, source: { ...app.spec?.source, ...other } } }),
        sources: await request({ ...legit, sync: { ...sync, sources: [other] } }),
        manifests: await request({ ...legit, sync: { ...sync, manifests: [JSON.stringify(role)] } }),
        syncOptions: await request({ ...legit, sync: { ...sync, syncOptions: ['Validate=false'] } }),
        notASync: await request({ initiatedBy: { username: 'x' } }),
      }).toEqual({
        legit: 'ok',
        revision:
          "rollout-verifier may not choose the revision of a sync; Argo CD syncs the spec's targetRevision",
        revisions: expect.stringContaining('may not choose the revision of a sync'),
        source: expect.stringContaining("may sync only the Application's own source (spec.source)"),
        sources: expect.stringContaining("may sync only the Application's own sources (spec.sources)"),
        manifests: expect.stringContaining('may not sync inline manifests'),
        syncOptions: expect.stringContaining("may sync only with the Application's own sync options"),
        notASync: expect.stringContaining('may request a sync operation only'),
      });
    },
  );

  withKube(
    'the sync-only policy decides on every field Argo CD reads from a sync operation (a new field in the CRD fails here)',
    () => {
      type Props = { properties: Record<string, Props> };
      const crd = parse(readFileSync(CRD, 'utf8')) as {
        spec: { versions: { schema: { openAPIV3Schema: Props } }[] };
      };
      const sync = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.operation!.properties.sync!;
      const policy = readFileSync(join(REPO_ROOT, 'manifests/ci-access/sync-only-policy.yaml'), 'utf8');
      // Checked by the policy, or harmless: they change how, not what, is synced.
      const harmless = ['prune', 'dryRun', 'resources', 'syncStrategy', 'autoHealAttemptsCount'];
      const unchecked = Object.keys(sync.properties).filter(
        (f) => !harmless.includes(f) && !policy.includes(`object.operation.sync.${f})`),
      );
      expect(unchecked).toEqual([]);
      expect(Object.keys(sync.properties)).toEqual(
        expect.arrayContaining(['revision', 'source', 'manifests']),
      );
    },
  );

  withKube(
    'training-submitter: create, read and delete its Job, list the pods, read the log; nothing else',
    async () => {
      const kc = as.submitter;
      const batch = kc.makeApiClient(BatchV1Api);
      const core = kc.makeApiClient(CoreV1Api);
      const job = {
        ...trainingJob,
        metadata: { ...trainingJob.metadata, name: 'run-1', namespace: undefined },
      } as never;
      expect(await statusOf(() => batch.createNamespacedJob({ namespace: 'ml-training', body: job }))).toBe(
        200,
      );
      expect({
        read: await statusOf(() => batch.readNamespacedJob({ name: 'run-1', namespace: 'ml-training' })),
        pods: await statusOf(() =>
          core.listNamespacedPod({ namespace: 'ml-training', labelSelector: 'job-name=run-1' }),
        ),
        // Authorized: the pod has no node (no scheduler here), so its log is empty: 204, not 403.
        log: await rawStatus(
          kc,
          'GET',
          '/api/v1/namespaces/ml-training/pods/trainer-0/log?container=trainer',
        ),
        otherLog: await rawStatus(kc, 'GET', '/api/v1/namespaces/ml-dev/pods/trainer-0/log'),
        createPod: await statusOf(() =>
          core.createNamespacedPod({
            namespace: 'ml-training',
            body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
          }),
        ),
        replaceJob: await statusOf(() =>
          batch.replaceNamespacedJob({ name: 'run-1', namespace: 'ml-training', body: job }),
        ),
        secrets: await statusOf(() => core.listNamespacedSecret({ namespace: 'ml-training' })),
        jobInDev: await statusOf(() => batch.createNamespacedJob({ namespace: 'ml-dev', body: job })),
        delete: await statusOf(() => batch.deleteNamespacedJob({ name: 'run-1', namespace: 'ml-training' })),
      }).toEqual({
        read: 200,
        pods: 200,
        log: 204,
        otherLog: 403,
        createPod: 403,
        replaceJob: 403,
        secrets: 403,
        jobInDev: 403,
        delete: 200,
      });
    },
  );

  withKube(
    "regression (issue 23.10): training-submitter's Jobs keep the trainer's shape (no other ServiceAccount, Secret, volume or host access)",
    async () => {
      const batch = as.submitter.makeApiClient(BatchV1Api);
      const base = trainingJob.spec.template.spec as {
        containers: { env?: unknown[]; securityContext?: Record<string, unknown> }[];
        volumes: unknown[];
      };
      /** The rendered Job with its pod spec changed by `edit`; the API's answer (201 or the policy's 422 message). */
      const submit = async (name: string, edit: (pod: Record<string, unknown>) => void) => {
        const pod = structuredClone(base) as unknown as Record<string, unknown>;
        edit(pod);
        const body = {
          ...trainingJob,
          metadata: { ...trainingJob.metadata, name, namespace: undefined },
          spec: { ...trainingJob.spec, template: { ...trainingJob.spec.template, spec: pod } },
        };
        try {
          await batch.createNamespacedJob({ namespace: 'ml-training', body: body as never });
          await batch.deleteNamespacedJob({ name, namespace: 'ml-training' });
          return 'created';
        } catch (e) {
          if (!(e instanceof ApiException)) throw e;
          return `${e.code} ${String((JSON.parse(String(e.body)) as { message?: string }).message ?? '').replace(/^.*denied request: /, '')}`;
        }
      };
      const trainer = (pod: Record<string, unknown>) =>
        (
          pod.containers as {
            env?: unknown[];
            envFrom?: unknown[];
            securityContext?: Record<string, unknown>;
          }[]
        )[0]!;
      expect({
        asShipped: await submit('ok', () => undefined),
        otherServiceAccount: await submit('sa', (p) => {
          p.serviceAccountName = 'default';
        }),
        token: await submit('token', (p) => {
          p.automountServiceAccountToken = true;
        }),
        secretVolume: await submit('vol', (p) => {
          (p.volumes as unknown[]).push({ name: 'k', secret: { secretName: 'argocd-secret' } });
        }),
        hostPath: await submit('host', (p) => {
          (p.volumes as unknown[]).push({ name: 'h', hostPath: { path: '/' } });
        }),
        otherSecretEnv: await submit('env', (p) => {
          trainer(p).env!.push({
            name: 'X',
            valueFrom: { secretKeyRef: { name: 'registry-credentials', key: 'password' } },
          });
        }),
        otherSecretEnvFrom: await submit('envfrom', (p) => {
          trainer(p).envFrom = [{ secretRef: { name: 'registry-credentials' } }];
        }),
        hostNetwork: await submit('net', (p) => {
          p.hostNetwork = true;
        }),
        privileged: await submit('priv', (p) => {
          // (privileged: true itself is refused by this test's API server, started without --allow-privileged)
          trainer(p).securityContext = {
            ...trainer(p).securityContext,
            capabilities: { add: ['SYS_ADMIN'] },
          };
        }),
        root: await submit('root', (p) => {
          p.securityContext = { ...(p.securityContext as object), runAsNonRoot: false };
        }),
      }).toEqual({
        asShipped: 'created',
        otherServiceAccount: "422 training-submitter's Jobs run as the ServiceAccount model-training",
        token:
          "422 training-submitter's Jobs mount no ServiceAccount token (automountServiceAccountToken false)",
        secretVolume:
          "422 training-submitter's Jobs have emptyDir volumes only (no Secret, ConfigMap, projected, hostPath or claim)",
        hostPath:
          "422 training-submitter's Jobs have emptyDir volumes only (no Secret, ConfigMap, projected, hostPath or claim)",
        otherSecretEnv:
          "422 training-submitter's Jobs read only the Secrets mlflow-credentials and object-store-credentials",
        otherSecretEnvFrom:
          "422 training-submitter's Jobs read only the Secrets mlflow-credentials and object-store-credentials",
        hostNetwork: "422 training-submitter's Jobs use no host namespace (network, PID, IPC)",
        privileged: "422 training-submitter's Jobs run no privileged container and add no capability",
        root: "422 training-submitter's Jobs run as non-root (securityContext.runAsNonRoot)",
      });
      // The policy binds training-submitter only: the cluster admin is not limited by it.
      await admin.makeApiClient(BatchV1Api).createNamespacedJob({
        namespace: 'ml-training',
        body: { ...trainingJob, metadata: { name: 'admin-run' } } as never,
      });
    },
  );
});
