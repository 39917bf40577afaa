/**
 * verifyRollout against a real kube-apiserver + etcd (lib/testing/kube.ts).
 * No Argo CD, controller-manager or kubelet runs: the test plays their part by
 * writing the Application's status, the Deployment's status subresource and
 * Pod objects with a Ready condition. /predict is answered by the real model
 * server (serving/'s test harness: the fixture model booted in-process on
 * loopback), serving the version of fakeFiles(3) (V3).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  loadYaml,
  type V1CustomResourceDefinition,
  type V1Deployment,
} from '@kubernetes/client-node';
import { main as verifyRolloutMain } from '../../scripts/verify-rollout.ts';
import { writeFixtureArtifact } from '../../serving/testing/fixture.ts';
import { startTestServer, type TestServer } from '../../serving/testing/harness.ts';
import { ProjectError } from '../errors.ts';
import { addCandidate, emptyLock, pinVersion, writeLock } from '../lock/index.ts';
import { fakeFiles, fakeVersion, makeEntry } from '../lock/testing.ts';
import {
  ensureNamespace,
  type KubeApiServer,
  kubeApiServerInstalled,
  startKubeApiServer,
} from '../testing/kube.ts';
import { freePort } from '../testing/ports.ts';
import { needs } from '../testing/services.ts';

/** Version ids as lib/lock names them (content-addressed). */
const V2 = fakeVersion(2);
const V3 = fakeVersion(3);

import { type Cluster, loadCluster, makeSmokePng, verifyRollout } from './index.ts';

const CRD = new URL('../testing/fixtures/argocd-application-crd.yaml', import.meta.url);

let kube: KubeApiServer | undefined;
let cluster: Cluster;
let apps: AppsV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
/** The real model server, serving demo-classifier version V3. */
let model: TestServer | undefined;
let modelDir: string;

interface Scene {
  env: string;
  templateVersion: string;
  podVersions: string[];
  sync?: string;
  health?: string;
  /** Deployment status; default: rolled out (all updated and available). */
  status?: V1Deployment['status'];
}

/** Create what Argo CD, the Deployment controller and the kubelets would have made for `scene`. */
async function playScene(scene: Scene): Promise<void> {
  const ns = `ml-${scene.env}`;
  await ensureNamespace(cluster.kubeConfig, ns);
  const labels = { 'app.kubernetes.io/name': 'model-server' };
  const pin = { 'ml.gitops/model-name': 'demo-classifier', 'ml.gitops/model-version': scene.templateVersion };
  const dep = await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'model-server', labels },
      spec: {
        replicas: scene.podVersions.length,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: pin },
          spec: {
            containers: [
              {
                name: 'server',
                image: 'ghcr.io/acme/model-server:test',
                env: [
                  { name: 'SERVING_MODEL_NAME', value: 'demo-classifier' },
                  { name: 'SERVING_MODEL_VERSION', value: scene.templateVersion },
                ],
              },
            ],
          },
        },
      },
    },
  });
  const n = scene.podVersions.length;
  await apps.replaceNamespacedDeploymentStatus({
    name: 'model-server',
    namespace: ns,
    body: {
      ...dep,
      status: scene.status ?? {
        observedGeneration: dep.metadata?.generation,
        replicas: n,
        updatedReplicas: n,
        readyReplicas: n,
        availableReplicas: n,
      },
    },
  });
  for (const [i, v] of scene.podVersions.entries()) {
    const pod = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: {
          name: `model-server-${i}`,
          labels,
          annotations: { ...pin, 'ml.gitops/model-version': v },
        },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: 'server', image: 'ghcr.io/acme/model-server:test' }],
        },
      },
    });
    await core.replaceNamespacedPodStatus({
      name: `model-server-${i}`,
      namespace: ns,
      body: {
        ...pod,
        status: {
          phase: 'Running',
          conditions: [
            { type: 'Ready', status: 'True', lastTransitionTime: new Date() },
            { type: 'ContainersReady', status: 'True', lastTransitionTime: new Date() },
          ],
        },
      },
    });
  }
  await custom.createNamespacedCustomObject({
    group: 'argoproj.io',
    version: 'v1alpha1',
    namespace: 'argocd',
    plural: 'applications',
    body: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: `model-server-${scene.env}`, namespace: 'argocd' },
      spec: {
        project: 'default',
        source: {
          repoURL: 'https://git.example/acme/gitops-ml.git',
          path: `environments/${scene.env}`,
          targetRevision: 'main',
        },
        destination: { server: 'https://kubernetes.default.svc', namespace: ns },
      },
      status: {
        sync: { status: scene.sync ?? 'Synced', revision: '0123456789abcdef0123456789abcdef01234567' },
        health: { status: scene.health ?? 'Healthy' },
      },
    },
  });
}

const image = makeSmokePng();
const quick = { image, pollMs: 100, maxPollMs: 300 };

/** The API server with the Application CRD and the model server: beforeAll of the tests that need them. */
async function startCluster(): Promise<void> {
  kube = await startKubeApiServer();
  cluster = loadCluster({ kubeconfig: kube.kubeconfigPath });
  apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  const ext = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
  // loadYaml maps JSON names to the client's model (x-kubernetes-preserve-unknown-fields → xKubernetesPreserveUnknownFields).
  const crd = loadYaml<V1CustomResourceDefinition>(await readFile(CRD, 'utf8'));
  await ext.createCustomResourceDefinition({ body: crd });
  for (let i = 0; i < 100; i++) {
    const got = await ext.readCustomResourceDefinition({ name: 'applications.argoproj.io' });
    if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await ensureNamespace(cluster.kubeConfig, 'argocd');
  modelDir = await mkdtemp(join(tmpdir(), 'verify-model-'));
  model = await startTestServer(await writeFixtureArtifact(modelDir, { version: V3 }));
}

async function stopCluster(): Promise<void> {
  await model?.close();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
  await kube?.stop();
}

const withKube = needs(...kubeApiServerInstalled()).describe;

withKube('verifyRollout against a real API server', () => {
  beforeAll(startCluster, 180_000);
  afterAll(stopCluster);

  it('passes when Argo CD, the Deployment, its pods and /predict all show the pin', async () => {
    await playScene({ env: 'dev', templateVersion: V3, podVersions: [V3, V3] });
    const url = model!.url;
    const lines: string[] = [];
    const report = await verifyRollout(
      { env: 'dev', version: V3, url, timeoutMs: 10_000, ...quick },
      { cluster, log: (l) => lines.push(l) },
    );
    expect(report.ok).toBe(true);
    expect(report.application.detail).toBe('sync=Synced health=Healthy');
    expect(report.deployment.detail).toBe(`2/2 updated, 2 available, template version ${V3}`);
    expect(report.pods.detail).toBe(
      `model-server-0 (version ${V3}, Ready), model-server-1 (version ${V3}, Ready)`,
    );
    expect(report.predict.detail).toBe(`answered model demo-classifier version ${V3}`);
    expect(lines.at(-1)).toContain(`/predict (${url}/predict): [ok]`);
  });

  it('the script exits 0 reading the pin from a lock file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verify-'));
    try {
      const lock = join(dir, 'models.lock.json');
      // A real lock (lib/lock's schema): versions 1 to 3, dev pinned to 3.
      let pinned = emptyLock();
      for (const n of [1, 2, 3]) {
        pinned = addCandidate(pinned, { model: 'demo-classifier', entry: makeEntry(fakeFiles(n)) }).lock;
      }
      pinned = pinVersion(pinned, {
        model: 'demo-classifier',
        env: 'dev',
        version: V3,
        at: '2026-01-01T00:00:00.000Z',
      });
      await writeLock(lock, pinned);
      const argv = [
        '--env',
        'dev',
        '--lock',
        lock,
        '--url',
        model!.url,
        '--kubeconfig',
        kube!.kubeconfigPath,
        '--timeout',
        '10',
      ];
      expect(await verifyRolloutMain(argv, {})).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('times out naming the version the pods still carry', async () => {
    await playScene({ env: 'staging', templateVersion: V3, podVersions: [V2, V2] });
    const err = await verifyRollout(
      { env: 'staging', version: V3, url: model!.url, timeoutMs: 1200, ...quick },
      { cluster },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).code).toBe('GATE_FAILED');
    const msg = (err as Error).message;
    expect(msg).toMatch(new RegExp(`^rollout of version ${V3} to staging not verified after \\d+s`));
    expect(msg).toContain('Application model-server-staging: [ok] sync=Synced health=Healthy');
    expect(msg).toContain(
      `Deployment ml-staging/model-server: [ok] 2/2 updated, 2 available, template version ${V3}`,
    );
    expect(msg).toContain(
      `pods: [waiting] model-server-0 (version ${V2}, Ready), model-server-1 (version ${V2}, Ready); 2 Ready pod(s) not at version ${V3}`,
    );
    expect(msg).toContain(`/predict (${model!.url}/predict): [not tried] not tried`);
  });

  it('reports an Application that is OutOfSync and a rollout in progress', async () => {
    await playScene({
      env: 'prod',
      templateVersion: V3,
      podVersions: [V2, V2],
      sync: 'OutOfSync',
      health: 'Progressing',
      status: {
        observedGeneration: 1,
        replicas: 3,
        updatedReplicas: 1,
        readyReplicas: 2,
        availableReplicas: 0,
      },
    });
    const opts = {
      env: 'prod',
      version: V3,
      model: 'demo-classifier',
      url: 'http://127.0.0.1:9',
      timeoutMs: 800,
      ...quick,
    };
    const err = await verifyRollout(opts, { cluster }).catch((e) => e);
    expect((err as ProjectError).code).toBe('GATE_FAILED');
    const msg = (err as Error).message;
    expect(msg).toMatch(new RegExp(`^rollout of demo-classifier version ${V3} to prod not verified`));
    expect(msg).toContain('Application model-server-prod: [waiting] sync=OutOfSync health=Progressing');
    expect(msg).toContain(
      `Deployment ml-prod/model-server: [waiting] 1/2 updated, 0 available, 2 old, template version ${V3}`,
    );
    expect(msg).toContain('/predict (http://127.0.0.1:9/predict): [not tried]');
  });

  it('fails when /predict answers with another version than the pin', async () => {
    // Cluster objects all at version 2, but the server behind --url serves version 3.
    await playScene({ env: 'qa', templateVersion: V2, podVersions: [V2] });
    const err = await verifyRollout(
      { env: 'qa', version: V2, url: model!.url, timeoutMs: 800, ...quick },
      { cluster },
    ).catch((e) => e);
    expect((err as Error).message).toContain(
      `/predict (${model!.url}/predict): [waiting] answered model demo-classifier version ${V3}, expected ${V2}`,
    );
  });

  it('waits through a rollout that completes while it polls', async () => {
    await playScene({
      env: 'canary',
      templateVersion: V3,
      podVersions: [V3],
      status: {
        observedGeneration: 1,
        replicas: 1,
        updatedReplicas: 1,
        readyReplicas: 0,
        availableReplicas: 0,
      },
    });
    const lines: string[] = [];
    const pending = verifyRollout(
      { env: 'canary', version: V3, url: model!.url, timeoutMs: 20_000, ...quick },
      { cluster, log: (l) => lines.push(l) },
    );
    // Play the Deployment controller: once verifyRollout has seen the unfinished rollout, mark it available.
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 50));
    expect(lines[0]).toContain('Deployment ml-canary/model-server: [waiting] 1/1 updated, 0 available');
    const dep = await apps.readNamespacedDeployment({ name: 'model-server', namespace: 'ml-canary' });
    await apps.replaceNamespacedDeploymentStatus({
      name: 'model-server',
      namespace: 'ml-canary',
      body: { ...dep, status: { ...dep.status, readyReplicas: 1, availableReplicas: 1 } },
    });
    const report = await pending;
    expect(report.ok).toBe(true);
    expect(report.rounds).toBeGreaterThan(1);
  });
});

describe('verifyRollout with an API server that does not answer', () => {
  it('fails at once naming the server URL and the kubeconfig context', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
    const port = await freePort();
    try {
      const path = join(dir, 'config');
      await writeFile(
        path,
        `apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: gone-ctx, context: {cluster: gone, user: u}}]
current-context: gone-ctx
`,
      );
      const down = loadCluster({ kubeconfig: path });
      const err = await verifyRollout(
        { env: 'dev', version: V3, timeoutMs: 60_000, image },
        { cluster: down },
      ).catch((e) => e);
      expect((err as ProjectError).code).toBe('UNAVAILABLE');
      expect((err as Error).message).toBe(
        `Kubernetes API server https://127.0.0.1:${port} does not answer (ECONNREFUSED) while reading Application argocd/model-server-dev [kubeconfig ${path}, context gone-ctx]\n` +
          '  → check that the cluster is up and that --kubeconfig/--context point at it (kubectl --context ... cluster-info)',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
