/**
 * Canary with analysis (manifests/components/canary), on the real Argo
 * Rollouts controller (scripts/setup.d/64-argo-rollouts.sh) in the local
 * cluster (`npm run cluster -- up --with rollouts`): an overlay that opts into
 * the component is rendered with real Kustomize and applied; kwok runs the
 * pods; for each of the Rollout's ReplicaSets, serving/main.ts is started with
 * that ReplicaSet's pod template environment (kwok's pods run nothing), and a
 * real Prometheus scrapes each server with the labels prometheus-operator
 * gives a pod's series through the component's ServiceMonitor (namespace,
 * rollouts_pod_template_hash). The AnalysisTemplate's Prometheus address is
 * that Prometheus, so every AnalysisRun is answered by real queries on real
 * servers.
 *
 * 0. Argo Rollouts' CRDs are installed from its own files, its controller is healthy.
 * 1. The first revision becomes stable at once; Argo Rollouts scales the
 *    referenced Deployment to zero (workloadRef, scaleDown: onsuccess).
 * 2. A good canary (version 2: traffic, right answers in the feedback): every
 *    metric of the analysis passes, the rollout completes, the canary's
 *    ReplicaSet becomes the stable one.
 * 3. A bad canary (version 3: people report its answers wrong through POST
 *    /feedback, live accuracy 0): the analysis fails, the rollout aborts, and
 *    the stable ReplicaSet (version 2) keeps its pods and keeps serving; the
 *    pin moved back to version 2 is Healthy at once (no steps, no analysis).
 *
 * Nothing here writes a status: every status is the controllers'. A new pin is
 * applied as Argo CD applies it: without /spec/replicas of the Deployment and
 * the Rollout (the ApplicationSet's ignoreDifferences with RespectIgnoreDifferences).
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { findKustomize, runKustomize, writePin } from '../gitops/index.ts';
import { addCandidate, emptyLock, type Lock } from '../lock/index.ts';
import { type ArgoRollout, loadCluster, makeSmokePng, verifyRollout } from '../pipelines/verify/index.ts';
import { ProjectError } from '../platform/errors.ts';
import { clusterInstalled, expectCrdsAsShipped, localPodEnv, readTemplateEnv } from '../testing/cluster.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { makeEntry } from '../testing/lock/fixtures.ts';
import {
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { FIXTURE_LABELS, shapePng, writeFixtureArtifact } from '../testing/serving/fixture.ts';
import { type ServerProcess, spawnServer } from '../testing/serving/process.ts';
import { signedEntry, testKey, trustTestKey } from '../testing/signing.ts';
import { applyObjects, ensureNamespace, parseManifests } from '../tools/cluster/kube.ts';
import { freePort } from '../tools/cluster/ports.ts';
import { waitFor } from '../tools/cluster/probe.ts';
import { clusterDown, clusterStatus, clusterUp } from '../tools/cluster/stack.ts';
import type { ClusterState } from '../tools/cluster/state.ts';
import { findRolloutsTools } from '../tools/cluster/tools.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = 'demo-classifier';
const NS = 'ml-canary-e2e';
const ROLLOUT = 'model-server';

const prometheus = prometheusInstalled();
const { describe } = needs(clusterInstalled({ rollouts: true }), kustomizeInstalled(), prometheus);

interface Rollout extends KubernetesObject {
  status?: ArgoRollout['status'] & {
    currentStepIndex?: number;
    canary?: { currentStepAnalysisRunStatus?: { name?: string; status?: string; message?: string } };
  };
}
interface AnalysisRun extends KubernetesObject {
  status?: {
    phase?: string;
    message?: string;
    metricResults?: { name: string; phase: string; measurements?: { phase: string; value?: string }[] }[];
  };
}

/** The test overlay: the component as an environment opts into it, with test timings and this test's Prometheus. */
function overlay(prometheusUrl: string): string {
  const json6902 = (ops: unknown[]) => stringify(ops);
  return stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    namespace: NS,
    resources: ['../../manifests/base'],
    components: ['../../manifests/components/canary'],
    replicas: [{ name: 'model-server', count: 1 }],
    patches: [
      { path: 'model-pin.yaml' },
      {
        target: { group: 'argoproj.io', kind: 'AnalysisTemplate', name: 'model-server-canary' },
        patch: json6902([
          // args: namespace, canary-hash, prometheus-address, max-error-ratio, max-p99-seconds, ...
          { op: 'test', path: '/spec/args/2/name', value: 'prometheus-address' },
          { op: 'replace', path: '/spec/args/2/value', value: prometheusUrl },
          // Two busy cores run the control plane, Argo CD, Argo Rollouts, Prometheus
          // and two servers: the SLO's 500 ms would measure the machine, not the canary.
          { op: 'test', path: '/spec/args/4/name', value: 'max-p99-seconds' },
          { op: 'replace', path: '/spec/args/4/value', value: '2' },
          ...[0, 1, 2, 3].flatMap((i) => [
            { op: 'replace', path: `/spec/metrics/${i}/interval`, value: '5s' },
            { op: 'replace', path: `/spec/metrics/${i}/count`, value: 2 },
          ]),
        ]),
      },
      {
        target: { group: 'argoproj.io', kind: 'Rollout', name: ROLLOUT },
        patch: json6902([
          // Long enough for the test to start the canary's server and send it traffic.
          { op: 'replace', path: '/spec/strategy/canary/steps/1/pause/duration', value: '60s' },
          { op: 'replace', path: '/spec/strategy/canary/steps/4/pause/duration', value: '2s' },
        ]),
      },
    ],
  });
}

describe('canary with analysis on the real Argo Rollouts controller, answered by a real Prometheus', () => {
  let work: string;
  let state: ClusterState;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;
  let prom: RunningPrometheus;
  let lock: Lock = emptyLock();
  const versions: string[] = [];
  const envDir = () => join(work, 'environments', 'canary-e2e');
  /** Running servers by ReplicaSet hash. */
  const servers = new Map<string, { server: ServerProcess; url: string; version: string }>();
  let applied = 0;

  const readRollout = async () =>
    (await custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: NS,
      plural: 'rollouts',
      name: ROLLOUT,
    })) as Rollout;

  const analysisRunsOf = async (hash: string): Promise<AnalysisRun[]> => {
    const list = (await custom.listNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: NS,
      plural: 'analysisruns',
      labelSelector: `rollouts-pod-template-hash=${hash}`,
    })) as { items: AnalysisRun[] };
    return list.items;
  };

  const describeRun = (runs: AnalysisRun[]) =>
    JSON.stringify(
      runs.map((r) => ({
        name: r.metadata?.name,
        phase: r.status?.phase,
        message: r.status?.message,
        metrics: r.status?.metricResults?.map((m) => ({
          name: m.name,
          phase: m.phase,
          values: m.measurements?.map((x) => `${x.phase}:${x.value ?? ''}`),
        })),
      })),
    );

  /** Pin `version`, render the overlay with real Kustomize and apply it as Argo CD would. */
  async function deploy(version: string): Promise<void> {
    const entry = lock.models[MODEL]!.versions[version]!;
    await writePin(envDir(), { model: MODEL, version, entry });
    const kustomize = await findKustomize();
    const objects = parseManifests(await runKustomize(kustomize, envDir()), envDir());
    if (applied++ > 0) {
      // The HPA and Argo Rollouts own the counts once the objects exist.
      for (const o of objects as (KubernetesObject & { spec?: { replicas?: number } })[])
        if ((o.kind === 'Deployment' || o.kind === 'Rollout') && o.spec) delete o.spec.replicas;
    }
    await applyObjects(kc, objects);
  }

  /** serving/main.ts with the pod template environment of the Rollout's ReplicaSet `hash`, scraped by Prometheus. */
  async function serveReplicaSet(hash: string): Promise<string> {
    const rs = (
      await apps.listNamespacedReplicaSet({
        namespace: NS,
        labelSelector: `rollouts-pod-template-hash=${hash}`,
      })
    ).items;
    expect(rs).toHaveLength(1);
    const template = await readTemplateEnv(kc, NS, 'ReplicaSet', rs[0]!.metadata!.name!, 'server');
    const port = await freePort();
    const env = await localPodEnv(template, join(work, `pod-${hash}`));
    // The ConfigMap's object store is a cluster DNS name this process cannot reach (kwok pods run
    // nothing): without it the server keeps labels in memory, one server per ReplicaSet here.
    // Labels through the store: serving/replicas.e2e.test.ts.
    for (const k of Object.keys(env)) if (k.startsWith('OBJECT_STORE_')) delete env[k];
    const server = spawnServer({ ...env, SERVING_HOST: '127.0.0.1', SERVING_PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    servers.set(hash, { server, url, version: template.env.SERVING_MODEL_VERSION! });
    await server.ready;
    await scrapeServers();
    await prom.waitFor(`up{rollouts_pod_template_hash="${hash}"}`, (s) => s[0]?.value[1] === '1');
    return url;
  }

  /** Prometheus scrapes every running server with the labels prometheus-operator would give its pod's series. */
  const scrapeServers = () =>
    prom.setTargets(
      [...servers].map(([hash, s]) => ({
        job: 'model-server',
        address: s.url.replace('http://', ''),
        labels: { namespace: NS, rollouts_pod_template_hash: hash, pod: `model-server-${hash}` },
      })),
    );

  /** A real /predict of a fixture shape; returns the answer's feedback id and top-1 label. */
  async function predict(url: string, i: number): Promise<{ feedbackId: string; predicted: string }> {
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      body: shapePng(FIXTURE_LABELS[i % FIXTURE_LABELS.length]!),
      headers: { 'content-type': 'image/png' },
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { feedback_id: string; predictions: { label: string }[] };
    return { feedbackId: answer.feedback_id, predicted: answer.predictions[0]!.label };
  }

  /** `n` answers of `url` labelled by people: right (the predicted label) or wrong (another one). */
  async function feedback(url: string, n: number, right: boolean): Promise<void> {
    for (let i = 0; i < n; i++) {
      const { feedbackId, predicted } = await predict(url, i);
      const label = right ? predicted : FIXTURE_LABELS.find((l) => l !== predicted)!;
      const res = await fetch(`${url}/feedback`, {
        method: 'POST',
        body: JSON.stringify({ feedback_id: feedbackId, label }),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(200);
    }
  }

  /** Steady /predict traffic to `urls` until stopped (bounded: at most 3,000 requests). */
  function traffic(urls: string[]): () => Promise<void> {
    let stopped = false;
    const loop = (async () => {
      for (let i = 0; i < 3000 && !stopped; i++) {
        await Promise.all(urls.map((u) => predict(u, i)));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    return async () => {
      stopped = true;
      await loop;
    };
  }

  /** verify-rollout's library (no Argo CD Application here), against the server at `url`. */
  const verify = (version: string, url: string, timeoutMs: number) =>
    verifyRollout(
      {
        env: 'canary-e2e',
        namespace: NS,
        version,
        skipApplication: true,
        url,
        image: makeSmokePng(),
        timeoutMs,
        pollMs: 500,
      },
      { cluster: loadCluster({ kubeconfig: state.kubeconfig }) },
    );

  /** Wait for the Rollout to make a canary ReplicaSet other than `stable`; its hash. */
  async function canaryHash(stable: string): Promise<string> {
    let hash = '';
    await waitFor(
      'the canary ReplicaSet of the new pin',
      async () => {
        const r = await readRollout();
        hash = r.status?.currentPodHash ?? '';
        return hash && hash !== stable ? undefined : `currentPodHash ${hash || 'none'}`;
      },
      60_000,
    );
    return hash;
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'canary-e2e-'));
    await cp(join(REPO_ROOT, 'manifests'), join(work, 'manifests'), { recursive: true });
    await mkdir(envDir(), { recursive: true });
    // Signed by a key the copy's signing policy trusts: the servers load only signed versions.
    const key = testKey();
    await trustTestKey(work, key);
    // Three trained versions: real artifacts (the fixture CNN) with their digests in the lock.
    for (const seed of [1, 2, 3]) {
      const artifact = await writeFixtureArtifact(join(work, `artifact-${seed}`), { seed });
      const added = addCandidate(lock, {
        model: MODEL,
        entry: await signedEntry(
          makeEntry(artifact.pin.digests, {
            artifactUri: `file://${artifact.dir}`,
            createdAt: `2026-01-0${seed}T00:00:00.000Z`,
          }),
          MODEL,
          key,
        ),
      });
      lock = added.lock;
      versions.push(added.version);
    }
    prom = await startPrometheus({ binary: prometheus.path, scrapeIntervalMs: 1000 });
    await writeFile(join(envDir(), 'kustomization.yaml'), overlay(prom.url));
    state = await clusterUp({
      dir: join(work, 'cluster'),
      repo: REPO_ROOT,
      rollouts: true,
      log: (l) => process.stderr.write(`[cluster] ${l}\n`),
    });
    kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    custom = kc.makeApiClient(CustomObjectsApi);
    apps = kc.makeApiClient(AppsV1Api);
    await ensureNamespace(kc, NS);
  }, 600_000);

  afterAll(async () => {
    for (const { server } of servers.values()) server.proc.kill('SIGTERM');
    await Promise.all([...servers.values()].map((s) => s.server.exited));
    await prom?.stop();
    if (work) {
      await clusterDown(join(work, 'cluster'));
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);

  let stable1 = '';
  let stable2 = '';

  test("up --with rollouts: Argo Rollouts' own CRDs installed as they are and Established; its controller healthy", async () => {
    await expectCrdsAsShipped(kc, findRolloutsTools().crds);
    const status = await clusterStatus(state.dir);
    expect(status?.components.find((c) => c.name === 'argo-rollouts-controller')).toMatchObject({
      running: true,
      healthy: true,
    });
  });

  test('the first revision becomes stable at once, and the referenced Deployment is scaled to zero', async () => {
    await deploy(versions[0]!);
    await waitFor(
      'Rollout model-server Healthy',
      async () => {
        const r = await readRollout();
        return r.status?.phase === 'Healthy' && r.status.stableRS
          ? undefined
          : `phase ${r.status?.phase}: ${r.status?.message ?? ''}`;
      },
      120_000,
    );
    stable1 = (await readRollout()).status!.stableRS!;
    await waitFor(
      'Deployment model-server scaled to zero by Argo Rollouts',
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'model-server', namespace: NS });
        return d.spec?.replicas === 0 ? undefined : `replicas ${d.spec?.replicas}`;
      },
      60_000,
    );
    const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({
      namespace: NS,
      labelSelector: `rollouts-pod-template-hash=${stable1}`,
    });
    expect(pods.items.map((p) => p.status?.phase)).toEqual(['Running']);
    await serveReplicaSet(stable1);
    expect(servers.get(stable1)?.version).toBe(versions[0]);
  }, 300_000);

  test('a good canary: every metric of the analysis passes, the rollout completes, the canary becomes stable', async () => {
    expect(stable1).not.toBe('');
    await deploy(versions[1]!);
    const canary = await canaryHash(stable1);
    const url = await serveReplicaSet(canary);
    expect(servers.get(canary)?.version).toBe(versions[1]);
    const stop = traffic([servers.get(stable1)!.url, url]);
    try {
      // People confirm the canary's answers: its live accuracy is measured, and high.
      await feedback(url, 50, true);
      await waitFor(
        'the canary promoted to stable',
        async () => {
          const r = await readRollout();
          if (r.status?.stableRS === canary && r.status.phase === 'Healthy') return undefined;
          return `phase ${r.status?.phase} step ${r.status?.currentStepIndex} abort ${r.status?.abort ?? false}: ${r.status?.message ?? ''}; analysis ${describeRun(await analysisRunsOf(canary))}`;
        },
        240_000,
      );
    } finally {
      await stop();
    }
    const [run, ...more] = await analysisRunsOf(canary);
    expect(more).toEqual([]);
    expect(run?.status?.phase).toBe('Successful');
    const results = Object.fromEntries((run?.status?.metricResults ?? []).map((m) => [m.name, m]));
    expect(Object.keys(results).sort()).toEqual(['drift', 'error-ratio', 'live-accuracy', 'p99-latency']);
    for (const m of Object.values(results)) expect(m.phase).toBe('Successful');
    const last = (name: string) => results[name]!.measurements!.at(-1)!.value;
    // Real answers of the canary's own series: no 5xx; 50 right feedbacks; drift has no
    // reference statistics in the fixture artifact (serving_drift_enabled 0), so no evidence.
    expect(last('error-ratio')).toBe('[0]');
    expect(last('live-accuracy')).toBe('[1]');
    expect(last('drift')).toBe('[]');
    expect(Number(/^\[(.+)\]$/.exec(last('p99-latency') ?? '')?.[1])).toBeGreaterThan(0);
    stable2 = canary;
    // The old stable ReplicaSet is scaled down: its server is retired like its pods.
    await waitFor(
      `ReplicaSet ${stable1} scaled down`,
      async () => {
        const rs = (
          await apps.listNamespacedReplicaSet({
            namespace: NS,
            labelSelector: `rollouts-pod-template-hash=${stable1}`,
          })
        ).items[0];
        return rs?.spec?.replicas === 0 ? undefined : `replicas ${rs?.spec?.replicas}`;
      },
      120_000,
    );
    // verify-rollout reads the Rollout that runs the Deployment's template: version 2 is rolled out.
    const report = await verify(versions[1]!, url, 60_000);
    expect(report.deployment).toMatchObject({
      ok: true,
      name: `${NS}/model-server (run by Rollout model-server)`,
    });
    expect(report.deployment.detail).toBe(
      `phase Healthy, stable ${canary}, current ${canary}, 1 available, template version ${versions[1]}`,
    );
    const old = servers.get(stable1)!;
    old.server.proc.kill('SIGTERM');
    await old.server.exited;
    servers.delete(stable1);
    await scrapeServers();
  }, 420_000);

  test('a bad canary (people report its answers wrong): the analysis fails, the rollout aborts, the stable ReplicaSet keeps serving', async () => {
    expect(stable2).not.toBe('');
    await deploy(versions[2]!);
    const canary = await canaryHash(stable2);
    const url = await serveReplicaSet(canary);
    expect(servers.get(canary)?.version).toBe(versions[2]);
    const stableUrl = servers.get(stable2)!.url;
    const stop = traffic([stableUrl, url]);
    try {
      await feedback(url, 50, false);
      await waitFor(
        'the rollout aborted by its analysis',
        async () => {
          const r = await readRollout();
          if (r.status?.abort && r.status.phase === 'Degraded') return undefined;
          return `phase ${r.status?.phase} step ${r.status?.currentStepIndex}: ${r.status?.message ?? ''}; analysis ${describeRun(await analysisRunsOf(canary))}`;
        },
        240_000,
      );
    } finally {
      await stop();
    }
    const rollout = await readRollout();
    expect(rollout.status?.stableRS).toBe(stable2);
    expect(rollout.status?.message).toMatch(/RolloutAborted|aborted/i);
    const [run] = await analysisRunsOf(canary);
    expect(run?.status?.phase).toBe('Failed');
    const accuracy = run?.status?.metricResults?.find((m) => m.name === 'live-accuracy');
    expect(accuracy?.phase).toBe('Failed');
    expect(accuracy?.measurements?.at(-1)?.value).toBe('[0]');
    // The canary's ReplicaSet is scaled to zero; the stable one keeps its pod.
    await waitFor(
      'the canary ReplicaSet scaled to zero, the stable one available',
      async () => {
        const rsOf = async (hash: string) =>
          (
            await apps.listNamespacedReplicaSet({
              namespace: NS,
              labelSelector: `rollouts-pod-template-hash=${hash}`,
            })
          ).items[0];
        const c = await rsOf(canary);
        const s = await rsOf(stable2);
        return c?.spec?.replicas === 0 && s?.spec?.replicas === 1 && s.status?.availableReplicas === 1
          ? undefined
          : `canary ${c?.spec?.replicas}, stable ${s?.spec?.replicas}/${s?.status?.availableReplicas}`;
      },
      120_000,
    );
    // verify-rollout of the pin (version 3) fails, naming the abort.
    const failed = await verify(versions[2]!, url, 3000).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ProjectError);
    expect((failed as ProjectError).code).toBe('GATE_FAILED');
    expect((failed as ProjectError).message).toMatch(
      new RegExp(
        `Deployment ${NS}/model-server \\(run by Rollout model-server\\): \\[waiting\\] phase Degraded, stable ${stable2}, current ${canary}, .*; aborted: `,
      ),
    );
    // And the stable version still answers.
    const res = await fetch(`${stableUrl}/predict`, {
      method: 'POST',
      body: shapePng('circle'),
      headers: { 'content-type': 'image/png' },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { version: string }).version).toBe(versions[1]);

    // The way back (npm run rollback moves the pin back): the template is the stable
    // ReplicaSet's again, so the Rollout is Healthy at once, with no steps and no analysis.
    const runsBefore = (await analysisRunsOf(stable2)).map((r) => r.metadata?.name);
    await deploy(versions[1]!);
    await waitFor(
      'the Rollout back on its stable ReplicaSet',
      async () => {
        const r = await readRollout();
        return r.status?.phase === 'Healthy' && r.status.currentPodHash === stable2 && !r.status.abort
          ? undefined
          : `phase ${r.status?.phase} current ${r.status?.currentPodHash} abort ${r.status?.abort ?? false}`;
      },
      60_000,
    );
    expect((await readRollout()).status?.stableRS).toBe(stable2);
    expect((await analysisRunsOf(stable2)).map((r) => r.metadata?.name)).toEqual(runsBefore);
    expect((await verify(versions[1]!, stableUrl, 60_000)).ok).toBe(true);
  }, 420_000);
});
