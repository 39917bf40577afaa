/**
 * The local cluster end to end, through `npm run cluster`'s main: `up`
 * brings every component up healthy and prints where each runs, kwok
 * runs pods of a plain Deployment (and a GPU pod on the GPU-like node only),
 * Argo CD's CRDs are served, and a real Argo CD syncs an Application from
 * the loopback Git server; `down` leaves no process behind. One stack for
 * the whole file (starting it takes a minute or two).
 */

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Metrics,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { $ } from 'zx';
import { ProjectError } from '../platform/errors.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../platform/object-store/index.ts';
import { expectCrdsAsShipped } from '../testing/cluster.ts';
import { needs, requirement } from '../testing/services.ts';
import { applyObjects } from '../tools/cluster/kube.ts';
import { waitFor } from '../tools/cluster/probe.ts';
import { isRunning } from '../tools/cluster/process.ts';
import { clusterDown, clusterStatus, clusterUp } from '../tools/cluster/stack.ts';
import { type ClusterState, readState } from '../tools/cluster/state.ts';
import { type ClusterTools, findClusterTools } from '../tools/cluster/tools.ts';
import { main } from './cluster.ts';

/** Processes whose command line mentions `text` (from /proc), as "pid cmdline". */
async function processesMentioning(text: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) out.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
  }
  return out;
}

let tools: ClusterTools | undefined;
let missing = '';
try {
  tools = findClusterTools();
} catch (e) {
  if (!(e instanceof ProjectError && e.code === 'NOT_FOUND')) throw e;
  missing = e.message;
}
const describeCluster = needs(requirement('the local cluster', tools?.kubeApiserver, missing)).describe;

describeCluster('npm run cluster: the local Kubernetes + Argo CD stack', () => {
  let work: string;
  let state: ClusterState;
  let kc: KubeConfig;
  let commit: string;
  const upOutput: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cluster-e2e-'));
    // A repository with one trivial manifest, as a bare repository the Git server serves.
    const src = join(work, 'src');
    await mkdir(join(src, 'apps', 'hello'), { recursive: true });
    await writeFile(
      join(src, 'apps', 'hello', 'configmap.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: hello from git\n',
    );
    const git = $({ cwd: src, quiet: true });
    await git`git init -q -b main`;
    await git`git add -A`;
    await git`git -c user.name=t -c user.email=t@example.com commit -q -m hello`;
    commit = (await git`git rev-parse HEAD`).stdout.trim();
    await $({ quiet: true })`git clone -q --bare ${src} ${join(work, 'served.git')}`;

    const dir = join(work, 'state');
    const code = await main(
      ['up', '--dir', dir, '--repo-dir', join(work, 'served.git'), '--name', 'hello', '--app-resync', '10'],
      (line) => {
        upOutput.push(line);
        process.stderr.write(`[cluster] ${line}\n`);
      },
    );
    expect(code).toBe(0);
    state = (await readState(dir)) as ClusterState;
    kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
  }, 900_000);

  afterAll(async () => {
    if (work) {
      await clusterDown(join(work, 'state'));
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);

  test('every component is up and healthy, on loopback; up and status print what runs where', async () => {
    const status = await clusterStatus(state.dir);
    const names = status?.components.map((c) => c.name);
    expect(names).toEqual([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
      'metrics-api',
      'redis',
      'git-server',
      'object-store',
      'argocd-repo-server',
      'argocd-application-controller',
      'argocd-applicationset-controller',
    ]);
    for (const c of status?.components ?? []) {
      expect({ name: c.name, healthy: c.healthy }).toEqual({ name: c.name, healthy: true });
    }
    expect(state.git.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hello\.git$/);
    const printed = upOutput.join('\n');
    expect(printed).toMatch(/^COMPONENT +PID +ADDRESS +HEALTHY$/m);
    expect(printed).toMatch(/^kube-apiserver +\d+ +https:\/\/127\.0\.0\.1:\d+ +yes$/m);
    expect(printed).toContain(`kubeconfig: ${state.kubeconfig}`);
    expect(printed).toContain(`git:        ${state.git.url}`);
    const statusLines: string[] = [];
    expect(await main(['status', '--dir', state.dir], (l) => statusLines.push(l))).toBe(0);
    expect(statusLines.join('\n')).toMatch(
      /^argocd-applicationset-controller +\d+ +127\.0\.0\.1:\d+ \(webhook\) +yes$/m,
    );
    // A second `up` on the same folder is refused while the first runs.
    await expect(clusterUp({ dir: state.dir, repo: join(work, 'served.git'), tools })).rejects.toThrow(
      /a cluster is already running from .*: etcd \(pid \d+\)/,
    );
  });

  test('the object store answers S3 with the key up made for it, from the 0600 env file it printed', async () => {
    const store = state.objectStore!;
    expect(store).toEqual({
      endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      region: 'us-east-1',
      bucket: 'gitops-ml',
      envFile: join(state.dir, 'object-store', 'object-store.env'),
    });
    expect((await stat(store.envFile)).mode & 0o777).toBe(0o600);
    const env = Object.fromEntries(
      (await readFile(store.envFile, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
    const config = objectStoreConfigFromEnv(env)!;
    expect(config).toMatchObject({ endpoint: store.endpoint, bucket: 'gitops-ml', forcePathStyle: true });
    const client = createObjectStore(config);
    try {
      await client.put('s3://gitops-ml/hello.txt', 'hello from the store', { ifNoneMatch: true });
      expect(Buffer.from(await client.getBytes('s3://gitops-ml/hello.txt')).toString()).toBe(
        'hello from the store',
      );
    } finally {
      client.close();
    }
    const printed = upOutput.join('\n');
    expect(printed).toMatch(/^object-store +\d+ +http:\/\/127\.0\.0\.1:\d+ \(S3\) +yes$/m);
    expect(printed).toContain(`objects:    ${store.endpoint}   (S3, bucket gitops-ml;`);
    expect(printed).not.toContain(config.credentials!.secretAccessKey);
  });

  test('both kwok nodes are Ready; the GPU-like node is labelled, tainted and offers nvidia.com/gpu', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const nodes = (await core.listNode()).items;
    const byName = new Map(nodes.map((n) => [n.metadata?.name, n]));
    for (const name of ['kwok-cpu-0', 'kwok-gpu-0']) {
      const ready = byName.get(name)?.status?.conditions?.find((c) => c.type === 'Ready');
      expect({ name, ready: ready?.status }).toEqual({ name, ready: 'True' });
    }
    const gpu = byName.get('kwok-gpu-0');
    expect(gpu?.metadata?.labels?.['nvidia.com/gpu.present']).toBe('true');
    expect(gpu?.spec?.taints).toEqual([{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }]);
    expect(gpu?.status?.allocatable?.['nvidia.com/gpu']).toBe('1');
    expect(byName.get('kwok-cpu-0')?.spec?.taints).toBeUndefined();
  });

  test('a plain Deployment gets Running and Ready pods on the CPU node; a GPU pod lands on the GPU node', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: 'smoke' } } });
    // kube-controller-manager's service-account controller creates it; pods need it.
    await waitFor(
      'ServiceAccount smoke/default',
      async () =>
        (await core.readNamespacedServiceAccount({ name: 'default', namespace: 'smoke' }))
          ? undefined
          : 'missing',
      60_000,
    );
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace: 'smoke',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'web', image: 'registry.example/never-pulled:1' }] },
          },
        },
      },
    });
    await waitFor(
      'Deployment smoke/web available',
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'web', namespace: 'smoke' });
        return d.status?.readyReplicas === 2 && d.status?.availableReplicas === 2
          ? undefined
          : `ready ${d.status?.readyReplicas ?? 0}/2`;
      },
      120_000,
    );
    const pods = (await core.listNamespacedPod({ namespace: 'smoke', labelSelector: 'app=web' })).items;
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.status?.phase).toBe('Running');
      expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(p.spec?.nodeName).toBe('kwok-cpu-0'); // the GPU node's taint keeps them off it
    }

    const gpuPod: V1Pod = {
      metadata: { name: 'trainer' },
      spec: {
        nodeSelector: { 'nvidia.com/gpu.present': 'true' },
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        containers: [
          {
            name: 'trainer',
            image: 'registry.example/never-pulled:1',
            resources: { limits: { 'nvidia.com/gpu': '1' }, requests: { 'nvidia.com/gpu': '1' } },
          },
        ],
      },
    };
    await core.createNamespacedPod({ namespace: 'smoke', body: gpuPod });
    await waitFor(
      'Pod smoke/trainer Running',
      async () => {
        const p = await core.readNamespacedPod({ name: 'trainer', namespace: 'smoke' });
        return p.status?.phase === 'Running' ? undefined : `phase ${p.status?.phase}`;
      },
      120_000,
    );
    expect((await core.readNamespacedPod({ name: 'trainer', namespace: 'smoke' })).spec?.nodeName).toBe(
      'kwok-gpu-0',
    );
  }, 300_000);

  test("Argo CD's and prometheus-operator's own CRDs are installed as they are, and Established", async () => {
    await expectCrdsAsShipped(kc, [
      ...(tools as ClusterTools).argocdCrds,
      ...(tools as ClusterTools).prometheusOperatorCrds,
    ]);
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    for (const name of ['servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']) {
      expect((await ext.readCustomResourceDefinition({ name })).spec.group).toBe('monitoring.coreos.com');
    }
  });

  test('the resource metrics API answers through the aggregation layer with kwok usage, and an HPA can read it', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const pods = (await core.listNamespacedPod({ namespace: 'smoke', labelSelector: 'app=web' })).items;
    const name = pods[0]?.metadata?.name as string;
    await core.patchNamespacedPod(
      {
        name,
        namespace: 'smoke',
        body: {
          metadata: {
            annotations: { 'kwok.x-k8s.io/usage-cpu': '250m', 'kwok.x-k8s.io/usage-memory': '64Mi' },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const metrics = new Metrics(kc);
    const list = await metrics.getPodMetrics('smoke');
    const byName = Object.fromEntries(list.items.map((m) => [m.metadata.name, m.containers]));
    expect(byName[name]).toEqual([{ name: 'web', usage: { cpu: '250m', memory: '64Mi' } }]);
    // The other pod reports kwok's defaults.
    const other = pods[1]?.metadata?.name as string;
    expect(byName[other]).toEqual([{ name: 'web', usage: { cpu: '1m', memory: '1Mi' } }]);
    // The pods have no requests, so a utilization target cannot work; an AverageValue one can:
    // 250m + 1m over two pods is 125.5m, over the 100m target, so the HPA scales up to 3.
    const autoscaling = kc.makeApiClient(AutoscalingV2Api);
    await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace: 'smoke',
      body: {
        metadata: { name: 'web' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 2,
          maxReplicas: 3,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'AverageValue', averageValue: '100m' } },
            },
          ],
        },
      },
    });
    await waitFor(
      'HPA smoke/web scaling on the metrics API',
      async () => {
        const h = await autoscaling.readNamespacedHorizontalPodAutoscaler({
          name: 'web',
          namespace: 'smoke',
        });
        const active = h.status?.conditions?.find((c) => c.type === 'ScalingActive');
        return active?.status === 'True' && h.status?.desiredReplicas === 3
          ? undefined
          : `ScalingActive ${active?.status} ${active?.message ?? ''}; desired ${h.status?.desiredReplicas}`;
      },
      120_000,
    );
  }, 180_000);

  test('an Application pointing at the loopback Git server syncs its manifest (repo-server + application-controller)', async () => {
    await applyObjects(kc, [
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name: 'hello', namespace: state.argocdNamespace },
        spec: {
          project: 'default',
          source: { repoURL: state.git.url, targetRevision: 'main', path: 'apps/hello' },
          destination: { server: 'https://kubernetes.default.svc', namespace: 'hello' },
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] },
        },
      } as never,
    ]);
    const custom = kc.makeApiClient(CustomObjectsApi);
    type AppStatus = {
      sync?: { status?: string; revision?: string };
      health?: { status?: string };
      conditions?: { message?: string }[];
    };
    let last: AppStatus | undefined;
    await waitFor(
      'Application hello Synced and Healthy',
      async () => {
        const app = (await custom.getNamespacedCustomObject({
          group: 'argoproj.io',
          version: 'v1alpha1',
          namespace: state.argocdNamespace,
          plural: 'applications',
          name: 'hello',
        })) as { status?: AppStatus };
        last = app.status;
        return app.status?.sync?.status === 'Synced' && app.status?.health?.status === 'Healthy'
          ? undefined
          : JSON.stringify(app.status ?? {}).slice(0, 600);
      },
      240_000,
    );
    expect(last?.sync?.revision).toBe(commit);
    const cm = await kc
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: 'hello', namespace: 'hello' });
    expect(cm.data).toEqual({ greeting: 'hello from git' });
    // Argo CD 3 tracks what it manages with an annotation: <app>:<group>/<kind>:<namespace>/<name>.
    expect(cm.metadata?.annotations?.['argocd.argoproj.io/tracking-id']).toBe('hello:/ConfigMap:hello/hello');
  }, 300_000);

  test('down stops every process up started, and only those', async () => {
    const before = state.components.map((c) => ({ pid: c.pid, command: c.command }));
    const lines: string[] = [];
    expect(await main(['down', '--dir', state.dir], (l) => lines.push(l))).toBe(0);
    expect(lines).toEqual([
      `stopped ${[...state.components]
        .reverse()
        .map((c) => c.name)
        .join(', ')}`,
    ]);
    for (const p of before) expect(await isRunning(p.pid, p.command)).toBe(false);
    expect(await clusterStatus(state.dir)).toBeUndefined();
    expect(await main(['status', '--dir', state.dir], () => {})).toBe(1);
    // No process is left that runs from the state folder (children of the components included).
    expect(await processesMentioning(state.dir)).toEqual([]);
  }, 120_000);
});
