/**
 * Shadow traffic on the local cluster (docs/serving.md "Shadow traffic",
 * manifests/components/shadow): a fork opts staging (champion, version 1)
 * and dev (challenger, version 2) into the component in Git, exactly as the
 * component's comment says; Kustomize renders both environments and the
 * objects are applied to the real kube-apiserver; each server process is
 * started with its Deployment's pod template environment read back from the
 * cluster (kwok runs no container): the challenger, and two replicas of the
 * champion, which share SERVING_ID_KEY and the cluster's object store. Only
 * where each listens differs, and the challenger's Service DNS name becomes
 * its loopback URL. A real Prometheus scrapes the three with the labels
 * prometheus-operator gives them (namespace, pod).
 *
 * 1. Git opts in: the champion's pods get SERVING_SHADOW_URL, both get the
 *    label and NetworkPolicy rules; the challenger mirrors nothing.
 * 2. Every answer of the champion is mirrored; agreement per image is
 *    counted; both answers are captured (the champion's pair in shadow/v1,
 *    the challenger's own capture/v1 under the champion's request ids).
 * 3. Labels sent to the other champion replica score the challenger's
 *    answers too (the pair read back from the store).
 * 4. npm run promote -- --env staging with the shadow gate passes on that
 *    evidence, read from Prometheus; a stricter gate refuses, naming it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeConfig, NetworkingV1Api, type V1NetworkPolicyPeer } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { findKustomize, renderAll, writePin } from '../gitops/index.ts';
import { addCandidate, emptyLock, modelHistory, pinVersion, writeLock } from '../lock/index.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../platform/object-store/index.ts';
import { clusterInstalled, localPodEnv, readTemplateEnv } from '../testing/cluster.ts';
import { copyWorkingTree } from '../testing/git-repos.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { makeEntry } from '../testing/lock/fixtures.ts';
import {
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { shapePng, writeFixtureArtifact } from '../testing/serving/fixture.ts';
import { type ServerProcess, spawnServer } from '../testing/serving/process.ts';
import { signedEntry, testKey, trustTestKey } from '../testing/signing.ts';
import { applyObjects, ensureNamespace, parseManifests } from '../tools/cluster/kube.ts';
import { freePorts } from '../tools/cluster/ports.ts';
import { clusterDown, clusterUp } from '../tools/cluster/stack.ts';
import type { ClusterState } from '../tools/cluster/state.ts';
import { main as promote } from './promote.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = 'demo-classifier';
const IMAGE = `ghcr.io/fork-owner/model-server@sha256:${'5e'.repeat(32)}`;
const SHADOW_URL = 'http://model-server.ml-dev.svc.cluster.local';
const SHAPES = ['circle', 'square', 'cross', 'triangle'] as const;

const { describe } = needs(clusterInstalled(), kustomizeInstalled(), prometheusInstalled());

describe('shadow traffic on the local cluster: staging mirrors to dev, the evidence gates the promotion', () => {
  let work: string;
  let fork: string;
  let state: ClusterState;
  let kc: KubeConfig;
  let prom: RunningPrometheus;
  let V1: string;
  let V2: string;
  const servers: ServerProcess[] = [];
  const urls = { challenger: '', championA: '', championB: '' };
  let storeEnv: Record<string, string>;
  const key = randomBytes(32).toString('base64url');

  /** The environment of a server of `env` as its pod starts, with where it listens and HOSTNAME. */
  async function podEnv(env: string, port: number, hostname: string): Promise<Record<string, string>> {
    const t = await readTemplateEnv(kc, `ml-${env}`, 'Deployment', 'model-server', 'server');
    const local = await localPodEnv(t, join(work, 'pods', hostname));
    return {
      ...local,
      // Where the cluster's names point on this machine: the object store, and (below) the challenger.
      ...storeEnv,
      SERVING_HOST: '127.0.0.1',
      SERVING_PORT: String(port),
      SERVING_ID_KEY: key,
      SERVING_CAPTURE_FLUSH_MS: '200',
      SERVING_BACKEND: 'cpu',
      HOSTNAME: hostname,
    };
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'shadow-e2e-'));
    fork = join(work, 'fork');
    await copyWorkingTree(REPO_ROOT, fork);
    // Git: both environments opt in, staging names dev's Service (manifests/components/shadow).
    for (const [env, literal] of [
      ['staging', `      - SERVING_SHADOW_URL=${SHADOW_URL}\n`],
      ['dev', ''],
    ] as const) {
      const path = join(fork, 'environments', env, 'kustomization.yaml');
      let text = await readFile(path, 'utf8');
      expect(text).toContain('\npatches:\n');
      text = text.replace('\npatches:\n', '\ncomponents:\n  - ../../manifests/components/shadow\npatches:\n');
      await writeFile(path, `${text.trimEnd()}\n${literal}`);
    }
    // Signed by a key the fork's signing policy trusts: the servers load only signed versions.
    const key = testKey();
    await trustTestKey(fork, key);
    // Two versions: 1 in staging (the champion), 2 in dev (the challenger).
    let lock = emptyLock();
    const entries = [];
    for (const seed of [1, 2]) {
      const artifact = await writeFixtureArtifact(join(work, `artifact-${seed}`), { seed });
      const entry = await signedEntry(
        makeEntry(artifact.pin.digests, {
          artifactUri: `file://${artifact.dir}`,
          createdAt: `2026-01-0${seed}T00:00:00.000Z`,
        }),
        MODEL,
        key,
      );
      const added = addCandidate(lock, { model: MODEL, entry });
      lock = added.lock;
      entries.push({ version: added.version, entry });
    }
    [V1, V2] = entries.map((e) => e.version) as [string, string];
    for (const [env, i] of [
      ['staging', 0],
      ['dev', 1],
    ] as const) {
      const { version, entry } = entries[i]!;
      lock = pinVersion(lock, {
        model: MODEL,
        env,
        version,
        at: `2026-01-0${3 + i}T00:00:00.000Z`,
        image: IMAGE,
      });
      await writePin(join(fork, 'environments', env), {
        model: MODEL,
        version,
        entry,
        image: IMAGE,
        history: modelHistory(lock, MODEL),
      });
    }
    await writeLock(join(fork, 'models.lock.json'), lock);

    state = await clusterUp({
      dir: join(work, 'cluster'),
      repo: REPO_ROOT,
      log: (l) => process.stderr.write(`[cluster] ${l}\n`),
    });
    kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const report = await renderAll({
      root: fork,
      kustomize: await findKustomize(),
      envs: ['dev', 'staging'],
    });
    for (const t of report.targets.filter((x) => x.target.env)) {
      await ensureNamespace(kc, `ml-${t.target.env}`);
      // In the client's model shape, as kubectl would send them (a plain `from` would be lost: tools/cluster/kube.ts).
      const yaml = t.objects.map((o) => stringify(o)).join('---\n');
      await applyObjects(kc, parseManifests(yaml, `environments/${t.target.env}`));
    }
    const envText = await readFile(state.objectStore!.envFile, 'utf8');
    storeEnv = Object.fromEntries(
      envText
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const ports = await freePorts(['challenger', 'championA', 'championB']);
    const challenger = spawnServer(await podEnv('dev', ports.challenger, 'model-server-dev-0'));
    servers.push(challenger);
    await challenger.ready;
    urls.challenger = `http://127.0.0.1:${ports.challenger}`;
    for (const name of ['championA', 'championB'] as const) {
      const env = await podEnv(
        'staging',
        ports[name],
        `model-server-staging-${name.slice(-1).toLowerCase()}`,
      );
      expect(env.SERVING_SHADOW_URL).toBe(SHADOW_URL);
      const s = spawnServer({ ...env, SERVING_SHADOW_URL: urls.challenger });
      servers.push(s);
      await s.ready;
      urls[name] = `http://127.0.0.1:${ports[name]}`;
    }
    prom = await startPrometheus({
      scrapeIntervalMs: 1000,
      targets: [
        {
          job: 'model-server',
          address: `127.0.0.1:${ports.challenger}`,
          labels: { namespace: 'ml-dev', pod: 'model-server-dev-0' },
        },
        {
          job: 'model-server',
          address: `127.0.0.1:${ports.championA}`,
          labels: { namespace: 'ml-staging', pod: 'model-server-staging-a' },
        },
        {
          job: 'model-server',
          address: `127.0.0.1:${ports.championB}`,
          labels: { namespace: 'ml-staging', pod: 'model-server-staging-b' },
        },
      ],
    });
  }, 600_000);

  afterAll(async () => {
    for (const s of servers) s.proc.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await prom?.stop();
    if (work) {
      await clusterDown(join(work, 'cluster'));
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);

  test('Git opts both environments in: the champion names the challenger, both carry the label and the NetworkPolicy rules', async () => {
    const staging = await readTemplateEnv(kc, 'ml-staging', 'Deployment', 'model-server', 'server');
    const dev = await readTemplateEnv(kc, 'ml-dev', 'Deployment', 'model-server', 'server');
    expect(staging.env.SERVING_SHADOW_URL).toBe(SHADOW_URL);
    expect(dev.env.SERVING_SHADOW_URL).toBeUndefined();
    expect(staging.annotations['ml.gitops/model-version']).toBe(V1);
    expect(dev.annotations['ml.gitops/model-version']).toBe(V2);
    const net = kc.makeApiClient(NetworkingV1Api);
    const shadowPeer = { app: 'server', shadow: 'on' };
    for (const ns of ['ml-dev', 'ml-staging']) {
      const p = await net.readNamespacedNetworkPolicy({ name: 'model-server', namespace: ns });
      // The client's model names `from` `_from`.
      const peers = (rules: { _from?: V1NetworkPolicyPeer[]; to?: V1NetworkPolicyPeer[] }[] | undefined) =>
        (rules ?? [])
          .flatMap((r) => r._from ?? r.to ?? [])
          .map((x) => x.podSelector?.matchLabels ?? {})
          .map((m) => ({ app: m['app.kubernetes.io/component'], shadow: m['ml.gitops/shadow'] }));
      expect(peers(p.spec?.ingress)).toContainEqual(shadowPeer);
      expect(peers(p.spec?.egress)).toContainEqual(shadowPeer);
    }
  });

  const answers: { request_id: string; feedback_id: string; predictions: { label: string }[] }[] = [];
  const challengerTop: string[] = [];

  test('each answer of the champion is mirrored to the challenger; agreement is counted per image; both answers are captured', async () => {
    const predict = async (url: string, shape: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${url}/predict`, {
        method: 'POST',
        body: shapePng(shape as (typeof SHAPES)[number]),
        headers: { 'content-type': 'image/png', ...headers },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as (typeof answers)[number] & { version: string };
    };
    // Two rounds with scrapes between them: Prometheus sees each series from its start.
    for (const round of [0, 1, 2]) {
      for (const shape of SHAPES) {
        const a = await predict(urls.championA, shape);
        expect(a.version).toBe(V1);
        answers.push(a);
        const b = await predict(urls.challenger, shape, { 'x-shadow-of': 'e2e/direct' });
        expect(b.version).toBe(V2);
        challengerTop.push(b.predictions[0]!.label);
      }
      if (round === 0)
        await prom.waitFor(`serving_shadow_requests_total{outcome="answered"}`, (s) => s.length > 0);
      await new Promise((r) => setTimeout(r, 2500));
    }
    const agree = answers.filter((a, i) => a.predictions[0]!.label === challengerTop[i]).length;
    const text = await (await fetch(`${urls.championA}/metrics`)).text();
    const value = (outcome: string) =>
      Number(
        new RegExp(
          `^serving_shadow_images_total\\{model="${MODEL}",version="${V1}",shadow_version="${V2}",outcome="${outcome}"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1] ?? 'NaN',
      );
    expect({ agree: value('agree'), disagree: value('disagree') }).toEqual({ agree, disagree: 12 - agree });
    // The pairs, in the store; the challenger's own capture holds its answers under the champion's request ids.
    const store = createObjectStore(objectStoreConfigFromEnv(storeEnv)!);
    try {
      const bucket = storeEnv.OBJECT_STORE_BUCKET as string;
      const pairs = [];
      for await (const o of store.list({ bucket, key: `shadow/v1/model=${MODEL}/version=${V1}/` }))
        pairs.push(o.key);
      expect(pairs).toHaveLength(12);
      const captured: string[] = [];
      for await (const o of store.list({ bucket, key: `capture/v1/model=${MODEL}/version=${V2}/` })) {
        const text = Buffer.from(await store.getBytes({ bucket, key: o.key })).toString('utf8');
        for (const line of text.split('\n').filter(Boolean)) captured.push(JSON.parse(line).request_id);
      }
      expect(captured).toEqual(expect.arrayContaining(answers.map((a) => a.request_id)));
    } finally {
      store.close();
    }
  }, 120_000);

  test("labels sent to the other champion replica score the challenger's answers too (the pair read from the store)", async () => {
    // Half the labels are the challenger's own answer, half another class.
    for (const [i, a] of answers.entries()) {
      const other = SHAPES.find((s) => s !== challengerTop[i]) as string;
      const res = await fetch(`${urls.championB}/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ feedback_id: a.feedback_id, label: i % 2 === 0 ? challengerTop[i] : other }),
      });
      expect(res.status).toBe(200);
    }
    await prom.waitFor(
      `sum(serving_shadow_feedback_total{namespace="ml-staging",version="${V2}"})`,
      (s) => Number(s[0]?.value[1]) === 12,
    );
    const correct = await prom.query(
      `sum(serving_shadow_feedback_total{namespace="ml-staging",version="${V2}",champion_version="${V1}",outcome="correct"})`,
    );
    expect(Number(correct[0]?.value[1])).toBe(6);
  }, 120_000);

  test('npm run promote -- --env staging: the shadow gate passes on that evidence from Prometheus; a stricter one refuses, naming it', async () => {
    const gates = (shadow: Record<string, unknown>) =>
      JSON.stringify({ gatesVersion: 1, environments: { staging: { source: 'dev', gates: { shadow } } } });
    const run = async (shadow: Record<string, unknown>) => {
      const file = join(work, `gates-${Object.values(shadow).join('-')}.json`);
      await writeFile(file, gates(shadow));
      const out: string[] = [];
      const code = await promote(['--env', 'staging', '--version', V2, '--gates', file, '--image', IMAGE], {
        cwd: fork,
        env: { ...process.env, PROMETHEUS_URL: prom.url, GITHUB_ACTIONS: undefined, PROMOTE_BY: 'e2e' },
        print: (t) => out.push(t),
      }).catch((e: unknown) => {
        out.push((e as Error).message);
        return 1;
      });
      return { code, out: out.join('') };
    };
    const strict = await run({
      window: '1h',
      minImages: 6,
      minAgreement: 0,
      minLabels: 8,
      minLiveAccuracy: 0.9,
    });
    expect(strict.code).toBe(1);
    expect(strict.out).toMatch(
      /shadow in staging: live accuracy +>= 90 % of >= 8 labels right \(1h\) +[\d.]+ % of \d+ labels +FAIL/,
    );
    const ok = await run({ window: '1h', minImages: 6, minAgreement: 0, minLabels: 8, minLiveAccuracy: 0.4 });
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.out).toMatch(
      /shadow in staging: agreement +>= 0 % of >= 6 mirrored images agree \(1h\) +[\d.]+ % of \d+ images +pass/,
    );
    expect(ok.out).toMatch(/shadow in staging: live accuracy .* [\d.]+ % of \d+ labels +pass/);
  }, 180_000);
});
