import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import {
  ApiException,
  AppsV1Api,
  AuthorizationV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { addCandidate, emptyLock, writeLock } from '../lock/index.ts';
import {
  type ArgoApplication,
  loadCluster,
  makeSmokePng,
  smokePredict,
  verifyRollout,
} from '../pipelines/verify/index.ts';
import { ProjectError } from '../platform/errors.ts';
import { runSync } from '../platform/shell.ts';
import { clusterInstalled, readTemplateEnv } from '../testing/cluster.ts';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { copyWorkingTree, gitIdentity } from '../testing/git-repos.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { baseImageMade, podmanInstalled } from '../testing/images.ts';
import { makeEntry } from '../testing/lock/fixtures.ts';
import { prometheusInstalled, startPrometheus } from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { writeFixtureArtifact } from '../testing/serving/fixture.ts';
import { imageAttestation, signedEntry, testKey, trustTestKey } from '../testing/signing.ts';
import { freePort } from '../tools/cluster/ports.ts';
import { waitFor } from '../tools/cluster/probe.ts';
import { type ServedPod, servedPodName, servePod } from '../tools/cluster/serve-pod.ts';
import { clusterDown, clusterUp } from '../tools/cluster/stack.ts';
import type { ClusterState } from '../tools/cluster/state.ts';
import { removeContainer } from '../tools/containers/pod.ts';
import { type Podman, preparePodman } from '../tools/containers/podman.ts';
import { main as cluster } from './cluster.ts';
import { main as promote } from './promote.ts';
import { main as rollback } from './rollback.ts';
import { main as sync } from './sync.ts';
import { main as verifyRolloutMain } from './verify-rollout.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = 'demo-classifier';
const { env: GIT_ENV } = gitIdentity('Fork Owner', 'fork@example.com');
const GITHUB_TOKEN_VALUE = 'ghs_fork_job_token';

/** Outside CI the journey is skipped, its title naming what is missing; in CI that fails. */
const describeStack = needs(
  clusterInstalled(),
  kustomizeInstalled(),
  prometheusInstalled(),
  podmanInstalled(),
  baseImageMade(),
).describe;

describeStack('the journey on a real Argo CD: apply, promote, sync, verify, roll back', () => {
  let work: string;
  let fork: string;
  let state: ClusterState;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let p: Podman;
  const pods: ServedPod[] = [];
  const git = (...args: string[]) =>
    runSync('git', args, { cwd: fork, env: { ...process.env, ...GIT_ENV } }).stdout.trim();
  /** GitHub's attestations API (the fake server): where promote.yml reads the attestation image.yml made. */
  let github: FakeGithub;
  const scriptEnv = () => ({
    ...process.env,
    ...GIT_ENV,
    PROMOTE_BY: 'fork-owner',
    GITHUB_ACTIONS: undefined,
    GITHUB_REPOSITORY: 'fork-owner/gitops-ml',
    GITHUB_TOKEN: GITHUB_TOKEN_VALUE,
    GITHUB_API_URL: github.url,
  });

  const readApp = async (name: string) =>
    (await custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: 'argocd',
      plural: 'applications',
      name,
    })) as ArgoApplication & {
      status?: {
        conditions?: { type: string; message: string }[];
        resources?: { kind: string; health?: { status?: string } }[];
      };
    };

  /** Run npm run promote (or rollback) in the fork, committing and pushing; resolves to the pushed commit. */
  async function promoteInFork(args: string[], mode: 'promote' | 'rollback' = 'promote'): Promise<string> {
    const out: string[] = [];
    const command = mode === 'promote' ? promote : rollback;
    const code = await command(
      [...args, ...(mode === 'promote' ? ['--image', IMAGE] : []), '--commit', '--push'],
      { cwd: fork, env: scriptEnv(), print: (t) => out.push(t) },
    );
    expect({ code, out: out.join('') }).toMatchObject({ code: 0 });
    const head = git('rev-parse', 'HEAD');
    expect(runSync('git', ['--git-dir', state.git.gitDir, 'rev-parse', 'main']).stdout.trim()).toBe(head);
    return head;
  }

  /**
   * Wait until Argo CD has synced the Deployment of `env` to `version`, then run its pod as
   * `npm run cluster -- serve` does: the image it names (built from this commit) with podman,
   * with its pod template's env, projected files, user and read-only root.
   */
  async function serveLikeThePod(env: string, version: string): Promise<ServedPod> {
    await waitFor(
      `Deployment ml-${env}/model-server at version ${version}`,
      async () => {
        const t = await readTemplateEnv(kc, `ml-${env}`, 'Deployment', 'model-server', 'server').catch(
          (e: unknown) => {
            if (e instanceof ApiException && e.code === 404) return undefined;
            throw e;
          },
        );
        const seen = t?.annotations['ml.gitops/model-version'];
        return seen === version ? undefined : `template version ${seen ?? 'none (no Deployment yet)'}`;
      },
      180_000,
    );
    const pod = await servePod({
      kc,
      podman: p,
      env,
      dir: join(work, 'pods', `${env}-${version}-${pods.length}`),
      name: `gitops-ml-journey-${process.pid}-${pods.length}`,
      log: (l) => process.stderr.write(`[serve] ${l}\n`),
    });
    pods.push(pod);
    // The container answers with the version its pod template names, which Argo CD synced.
    expect(pod.annotations['ml.gitops/model-version']).toBe(version);
    return pod;
  }

  /** npm run verify-rollout, with what it printed. */
  async function verifyCli(
    args: string[],
    env: Record<string, string | undefined> = process.env,
  ): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const spy = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
      lines.push(a.join(' '));
    });
    try {
      const code = await verifyRolloutMain(
        [...args, '--lock', join(fork, 'models.lock.json'), '--timeout', '240'],
        env,
        { cwd: fork },
      );
      return { code, out: lines.join('\n') };
    } finally {
      spy.mockRestore();
    }
  }

  /**
   * The serving image of this commit (serving/Dockerfile, target runtime), built with podman,
   * by digest: what image.yml would have built and pushed. Promotions pin it, Argo CD syncs
   * it, and serveLikeThePod runs it.
   */
  let IMAGE: string;
  /** The two candidates' version ids (content-addressed: v + 12 hex of the root digest). */
  let V1: string;
  let V2: string;

  beforeAll(async () => {
    p = await preparePodman();
    // npm run cluster -- image: this commit's runtime image, built once per content; its digest reference.
    const printed: string[] = [];
    expect(await cluster(['image'], (l) => printed.push(l))).toBe(0);
    IMAGE = /^digest reference: (\S+)$/m.exec(printed.join('\n'))?.[1] ?? '';
    expect(printed.join('\n')).toContain(`npm run promote -- --env dev --image ${IMAGE} --commit`);
    work = await mkdtemp(join(tmpdir(), 'argocd-e2e-'));
    fork = join(work, 'fork');
    await copyWorkingTree(REPO_ROOT, fork);
    // Two trained versions: real artifacts (the fixture CNN), each in the lock as a
    // candidate with its digests; the pods' SERVING_MODEL_URI is their file: URI.
    // Signed by the fork's own key, which its signing policy trusts (docs/signing.md); the image
    // attested by another, trusted to sign images, as image.yml's keyless identity is.
    const key = testKey();
    await trustTestKey(fork, key, 'fork team key');
    const builds = testKey();
    await trustTestKey(fork, builds, 'fork image builds', ['images']);
    github = await startFakeGithub({ token: GITHUB_TOKEN_VALUE, owner: 'fork-owner', repo: 'gitops-ml' });
    github.attestations.set(`sha256:${IMAGE.split('@sha256:')[1]}`, [await imageAttestation(IMAGE, builds)]);
    let lock = emptyLock();
    const ids: string[] = [];
    for (const seed of [1, 2]) {
      const artifact = await writeFixtureArtifact(join(work, `artifact-${seed}`), { seed });
      const added = addCandidate(lock, {
        model: MODEL,
        entry: await signedEntry(
          makeEntry(artifact.pin.digests, {
            artifactUri: `file://${artifact.dir}`,
            createdAt: `2026-01-0${seed}T00:00:00.000Z`,
            metrics: { accuracy: 0.96 + seed / 1000, macro_f1: 0.96 },
          }),
          MODEL,
          key,
        ),
      });
      lock = added.lock;
      ids.push(added.version);
    }
    [V1, V2] = ids as [string, string];
    await writeLock(join(fork, 'models.lock.json'), lock);
    runSync('git', ['init', '-q', '-b', 'main', fork]);
    git('add', '-A');
    git('commit', '-q', '-m', 'template, with two candidates');
    const origin = join(work, 'origin.git');
    runSync('git', ['clone', '-q', '--bare', fork, origin]);
    git('remote', 'add', 'origin', origin);
    git('fetch', '-q', 'origin');
    git('branch', '-q', '-u', 'origin/main');

    state = await clusterUp({
      dir: join(work, 'cluster'),
      repo: origin,
      appResyncSeconds: 5,
      log: (l) => process.stderr.write(`[cluster] ${l}\n`),
    });
    kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    custom = kc.makeApiClient(CustomObjectsApi);

    // README step 1 (npm run init) puts the fork's GitHub URL where the placeholder is; on the local
    // cluster `npm run cluster -- argocd` points the Argo CD objects at the local Git server instead.
    // No image to edit: each promotion pins the serving image by digest (IMAGE, as promote.yml does).
    git('push', '-q', 'origin', 'main');
  }, 3_600_000);

  afterAll(async () => {
    await github?.close();
    await Promise.all(pods.map((pod) => pod.stop()));
    if (p) await removeContainer(p, servedPodName('dev'));
    if (work) {
      await clusterDown(join(work, 'cluster'));
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);

  test('npm run cluster -- argocd (kubectl apply -k manifests/argocd and manifests/ci-access, reading the local Git server): one Application per environment, each on its "no model yet" pin until its first promotion (dev and staging Synced and Healthy with no server, prod waiting for its sync); monitoring and the alert relay sync', async () => {
    const lines: string[] = [];
    expect(await cluster(['argocd', '--dir', state.dir, '--repo-dir', fork], (l) => lines.push(l))).toBe(0);
    expect(lines.join('\n')).toContain(`Argo CD reads ${state.git.url}`);
    expect(lines[0]).toMatch(
      /^applied manifests\/argocd: \d+ objects \(.*ApplicationSet argocd\/model-server/,
    );
    const project = (await custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: 'argocd',
      plural: 'appprojects',
      name: 'ml-serving',
    })) as { spec: { sourceRepos: string[] } };
    expect(project.spec.sourceRepos).toEqual([state.git.url]);
    // Before its first promotion an environment has no server to run: `cluster serve` says what to do.
    await expect(
      servePod({ kc, podman: p, env: 'staging', dir: join(work, 'pods', 'none') }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('Deployment ml-staging/model-server does not exist'),
    });
    for (const env of ['dev', 'staging']) {
      await waitFor(
        `Application model-server-${env} Synced and Healthy with no model`,
        async () => {
          const s = (await readApp(`model-server-${env}`).catch(() => undefined))?.status;
          return s?.sync?.status === 'Synced' && s.health?.status === 'Healthy'
            ? undefined
            : `sync=${s?.sync?.status} health=${s?.health?.status} conditions=${JSON.stringify(s?.conditions ?? [])}`;
        },
        120_000,
      );
      const kinds = ((await readApp(`model-server-${env}`)).status?.resources ?? []).map((r) => r.kind);
      expect(kinds).toContain('Service');
      expect(kinds).not.toContain('Deployment');
      expect(kinds).not.toContain('HorizontalPodAutoscaler');
    }
    // prod syncs only when asked (below): rendered without an error, nothing applied yet.
    await waitFor(
      'Application model-server-prod compared, no render error',
      async () => {
        const s = (await readApp('model-server-prod').catch(() => undefined))?.status;
        const errors = (s?.conditions ?? []).filter((c) => c.type.endsWith('Error'));
        return s?.sync?.status === 'OutOfSync' && errors.length === 0
          ? undefined
          : `sync=${s?.sync?.status} conditions=${JSON.stringify(s?.conditions ?? [])}`;
      },
      120_000,
    );
    // manifests/monitoring needs no pin: the PrometheusRule and the dashboards, accepted by the API server.
    await waitFor(
      'Application model-server-monitoring Synced and Healthy',
      async () => {
        const s = (await readApp('model-server-monitoring').catch(() => undefined))?.status;
        return s?.sync?.status === 'Synced' && s.health?.status === 'Healthy'
          ? undefined
          : `sync=${s?.sync?.status} health=${s?.health?.status}`;
      },
      120_000,
    );
    // The drift-alert relay too: Deployment, Service and NetworkPolicy, accepted and Healthy.
    await waitFor(
      'Application alert-relay Synced and Healthy',
      async () => {
        const s = (await readApp('alert-relay').catch(() => undefined))?.status;
        return s?.sync?.status === 'Synced' && s.health?.status === 'Healthy'
          ? undefined
          : `sync=${s?.sync?.status} health=${s?.health?.status}`;
      },
      120_000,
    );
    expect(((await readApp('alert-relay')).status?.resources ?? []).map((r) => r.kind).sort()).toEqual([
      'Deployment',
      'NetworkPolicy',
      'Service',
      'ServiceAccount',
    ]);
    const rule = (await custom.getNamespacedCustomObject({
      group: 'monitoring.coreos.com',
      version: 'v1',
      namespace: 'ml-monitoring',
      plural: 'prometheusrules',
      name: 'model-server',
    })) as { spec: { groups: { rules: { alert?: string }[] }[] } };
    expect(rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter(Boolean)).toContain(
      'ServingFeatureDrift',
    );
    const dashboards = await kc
      .makeApiClient(CoreV1Api)
      .listNamespacedConfigMap({ namespace: 'ml-monitoring', labelSelector: 'grafana_dashboard=1' });
    expect(dashboards.items.length).toBeGreaterThan(0);
  }, 300_000);

  let v1: { url: string; env: Record<string, string> };

  test('the first promotion to dev: Argo CD syncs it by itself, kwok runs the pod, its container (the image of this commit) answers curl -F image=@… /predict, verify-rollout passes on the real status at the promotion commit', async () => {
    const commit = await promoteInFork(['--env', 'dev', '--version', V1]);
    v1 = await serveLikeThePod('dev', V1);
    // The README's way: npm run cluster -- serve --env dev --port <p> --detach, then --stop.
    const port = await freePort();
    const said: string[] = [];
    const serveCli = (...extra: string[]) =>
      cluster(['serve', '--env', 'dev', '--port', String(port), '--dir', state.dir, ...extra], (l) =>
        said.push(l),
      );
    expect(await serveCli('--detach')).toBe(0);
    expect(said.join('\n')).toContain(`dev serves ${MODEL} ${V1} from ${IMAGE}`);
    const viaCli = await fetch(`http://127.0.0.1:${port}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(makeSmokePng()),
    });
    expect(await viaCli.json()).toMatchObject({ model: MODEL, version: V1 });
    expect(await serveCli('--stop')).toBe(0);
    expect(said.at(-1)).toBe('stopped gitops-ml-ml-dev-model-server');
    // The image Argo CD synced is the one promoted with the model, by digest: this commit's.
    const synced = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'model-server', namespace: 'ml-dev' });
    expect(synced.spec?.template.spec?.containers.find((c) => c.name === 'server')?.image).toBe(IMAGE);
    expect(IMAGE).toMatch(/^localhost\/gitops-ml\/model-server@sha256:[0-9a-f]{64}$/);
    // The README's last step: a multipart upload, as `curl -s -F image=@cat.png <url>/predict` sends it.
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(makeSmokePng())], { type: 'image/png' }), 'cat.png');
    const res = await fetch(`${v1.url}/predict`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ model: MODEL, version: V1, predictions: expect.any(Array) });
    expect(v1.env).toMatchObject({
      SERVING_MODEL_NAME: MODEL,
      SERVING_MODEL_VERSION: V1,
      SERVING_PORT: '8080',
    });
    const { code, out } = await verifyCli([
      '--env',
      'dev',
      '--revision',
      commit,
      '--url',
      v1.url,
      '--kubeconfig',
      state.kubeconfig,
    ]);
    expect({ code, out }).toMatchObject({ code: 0 });
    expect(out).toContain(
      `Application model-server-dev: [ok] sync=Synced health=Healthy revision=${commit.slice(0, 12)}`,
    );
    expect(out).toContain(
      `Deployment ml-dev/model-server: [ok] 1/1 updated, 1 available, template version ${V1}`,
    );
    expect(out).toContain(`/predict (${v1.url}/predict): [ok] answered model ${MODEL} version ${V1}`);
    expect(out).toContain(`rollout verified: dev serves version ${V1}`);
    // The model card reads where each version runs from the pin, through the Downward API.
    const card = (await (await fetch(`${v1.url}/api/model`)).json()) as {
      history: { pins: Record<string, string>; promotions: { env: string; to: string; by?: string }[] };
    };
    expect(card.history.pins).toEqual({ dev: V1 });
    expect(card.history.promotions.at(-1)).toMatchObject({ env: 'dev', to: V1, by: 'fork-owner' });
    // Every object of the overlay synced, the HPA scaling on the metrics API.
    const app = await readApp('model-server-dev');
    expect(
      Object.fromEntries(
        ((app.status as { resources?: { kind: string; status?: string }[] }).resources ?? []).map((r) => [
          r.kind,
          r.status,
        ]),
      ),
    ).toEqual({
      ConfigMap: 'Synced',
      Deployment: 'Synced',
      HorizontalPodAutoscaler: 'Synced',
      NetworkPolicy: 'Synced',
      PodDisruptionBudget: 'Synced',
      Role: 'Synced',
      RoleBinding: 'Synced',
      Service: 'Synced',
      ServiceAccount: 'Synced',
      ServiceMonitor: 'Synced',
    });
    const hpa = await kc
      .makeApiClient(AutoscalingV2Api)
      .readNamespacedHorizontalPodAutoscaler({ name: 'model-server', namespace: 'ml-dev' });
    expect(hpa.status?.conditions?.find((c) => c.type === 'ScalingActive')).toMatchObject({
      status: 'True',
      reason: 'ValidMetricFound',
    });
  }, 600_000);

  test('a second version reaches dev through Git; /predict answering another version fails the check; a rollback brings the first pin back', async () => {
    const commit2 = await promoteInFork(['--env', 'dev']); // dev takes the newest candidate: V2
    const v2 = await serveLikeThePod('dev', V2);
    expect(v2.env.SERVING_MODEL_SHA256).not.toBe(v1.env.SERVING_MODEL_SHA256);
    const second = await verifyCli([
      '--env',
      'dev',
      '--revision',
      commit2,
      '--url',
      v2.url,
      '--kubeconfig',
      state.kubeconfig,
    ]);
    expect(second).toMatchObject({ code: 0 });
    expect(second.out).toContain(`/predict (${v2.url}/predict): [ok] answered model ${MODEL} version ${V2}`);

    // Everything in the cluster is at 2 now; a server still answering 1 is no rollout of 2.
    // The Application can turn Progressing again for a moment after a rollout (the HPA
    // has no CPU sample of the new pod yet: manifests/argocd/argocd-cm.yaml), and then
    // /predict is not tried; so wait until it is Healthy, and try again if it flipped.
    const refusal = async (): Promise<unknown> => {
      await waitFor(
        'Application model-server-dev Healthy at the second promotion',
        async () => {
          const st = (await readApp('model-server-dev')).status;
          return st?.health?.status === 'Healthy' && st.sync?.revision === commit2
            ? undefined
            : `health=${st?.health?.status} revision=${st?.sync?.revision}`;
        },
        120_000,
      );
      return verifyRollout(
        {
          env: 'dev',
          version: V2,
          revision: commit2,
          url: v1.url,
          image: makeSmokePng(),
          timeoutMs: 3000,
          pollMs: 500,
        },
        { cluster: loadCluster({ kubeconfig: state.kubeconfig }) },
      ).catch((e: unknown) => e);
    };
    let err = await refusal();
    for (let i = 0; i < 4 && String((err as Error)?.message).includes('[not tried]'); i++)
      err = await refusal();
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).code).toBe('GATE_FAILED');
    expect((err as Error).message).toContain(
      `Application model-server-dev: [ok] sync=Synced health=Healthy revision=${commit2.slice(0, 12)}`,
    );
    expect((err as Error).message).toContain(
      `/predict (${v1.url}/predict): [waiting] answered model ${MODEL} version ${V1}, expected ${V2}`,
    );

    // npm run rollback: the version dev ran before, through Git again.
    const commit3 = await promoteInFork(['--env', 'dev'], 'rollback');
    const back = await serveLikeThePod('dev', V1);
    expect(back.env).toEqual(v1.env);
    const third = await verifyCli([
      '--env',
      'dev',
      '--revision',
      commit3,
      '--url',
      back.url,
      '--kubeconfig',
      state.kubeconfig,
    ]);
    expect(third).toMatchObject({ code: 0 });
    expect(third.out).toContain(`rollout verified: dev serves version ${V1}`);
  }, 900_000);

  test('automatic revert: the version passes its checks, an SLO alert fires in the soak, verify-rollout reverts it through Git, Argo CD syncs the previous pin back, and staging refuses the version', async () => {
    // dev runs V1 (first promotion, or after the rollback above); V2 goes to dev again.
    const before = JSON.parse(git('show', 'HEAD:models.lock.json')).models[MODEL].pins.dev;
    expect(before).toBe(V1);
    const promoted = await promoteInFork(['--env', 'dev', '--version', V2]);
    const served = await serveLikeThePod('dev', V2);
    // A real Prometheus scrapes the pod's server (labels as the ServiceMonitor gives them), with the
    // repo's SLO alert name on a rule that fires for the version it serves (the real burn-rate rules
    // need an hour of traffic; the soak reads ALERTS whatever the expression).
    const rules = join(work, 'soak-rules.yaml');
    await writeFile(
      rules,
      stringify({
        groups: [
          {
            name: 'soak-e2e',
            rules: [
              {
                alert: 'ServingErrorBudgetBurnFast',
                expr: 'max by (namespace, job, version) (serving_model_info) > 0',
                labels: { severity: 'critical' },
              },
            ],
          },
        ],
      }),
    );
    const prom = await startPrometheus({
      ruleFiles: [rules],
      targets: [
        {
          job: 'model-server',
          address: served.url.replace('http://', ''),
          labels: { namespace: 'ml-dev' },
        },
      ],
    });
    try {
      const outputs = join(work, 'github-output');
      const summary = join(work, 'step-summary.md');
      await writeFile(outputs, '');
      await writeFile(summary, '');
      const failed = await verifyCli(
        [
          '--env',
          'dev',
          '--revision',
          promoted,
          '--url',
          served.url,
          '--kubeconfig',
          state.kubeconfig,
          '--soak',
          '2m',
          '--soak-every',
          '1s',
          '--revert-on-failure',
        ],
        { ...scriptEnv(), PROMETHEUS_URL: prom.url, GITHUB_OUTPUT: outputs, GITHUB_STEP_SUMMARY: summary },
      );
      expect({ code: failed.code }).toEqual({ code: 1 });
      expect(failed.out).toContain(`rollout verified: dev serves version ${V2}`);
      const reason = new RegExp(
        `soak: 1 alert\\(s\\) firing in ml-dev \\d+s into the 120s soak of version ${V2} \\(Prometheus ${prom.url.replaceAll('.', '\\.')}\\):\n  - ServingErrorBudgetBurnFast \\(job=model-server, namespace=ml-dev, severity=critical, version=${V2}\\)`,
      );
      expect(failed.out).toMatch(reason);
      expect(failed.out).toContain('pushed to origin main');

      // The revert commit on the served repository, the reason verbatim in its message.
      const gitDir = ['--git-dir', state.git.gitDir];
      const reverted = runSync('git', [...gitDir, 'rev-parse', 'main']).stdout.trim();
      expect(runSync('git', [...gitDir, 'log', '-1', '--format=%s', 'main']).stdout.trim()).toBe(
        `revert ${MODEL} dev to ${V1} (from ${V2}): post-promotion verification failed`,
      );
      expect(runSync('git', [...gitDir, 'log', '-1', '--format=%b', 'main']).stdout).toMatch(reason);
      const lock = JSON.parse(runSync('git', [...gitDir, 'show', 'main:models.lock.json']).stdout);
      expect(lock.models[MODEL].promotions.at(-1)).toMatchObject({
        env: 'dev',
        from: V2,
        to: V1,
        by: 'fork-owner',
        reverted: { reason: expect.stringMatching(reason) },
      });
      // What the workflow's revert job and the job summary get.
      const out = await readFile(outputs, 'utf8');
      expect(out).toMatch(/^verified<<ghadelimiter_.*\nfalse\n/m);
      expect(out).toMatch(/^revert<<ghadelimiter_.*\ntrue\n/m);
      expect(out).toContain(`\n${V2}\n`);
      expect(await readFile(summary, 'utf8')).toContain(`## Reverted ${MODEL} in dev: ${V2} → ${V1}`);

      // Argo CD syncs the previous pin back by itself; it verifies at the revert commit.
      const back = await serveLikeThePod('dev', V1);
      const verified = await verifyCli([
        '--env',
        'dev',
        '--revision',
        reverted,
        '--url',
        back.url,
        '--kubeconfig',
        state.kubeconfig,
      ]);
      expect(verified).toMatchObject({ code: 0 });
      expect(verified.out).toContain(
        `Application model-server-dev: [ok] sync=Synced health=Healthy revision=${reverted.slice(0, 12)}`,
      );

      // npm run promote -- --env staging --version <bad>: refused by the gate, naming the revert.
      const refused = await promote(['--env', 'staging', '--version', V2, '--commit', '--push'], {
        cwd: fork,
        env: scriptEnv(),
        print: () => {},
      }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'GATE_FAILED' });
      expect((refused as Error).message).toContain(
        `- notReverted: expected never reverted in any environment (override: --allow-reverted "<why>"), got reverted in dev at`,
      );
      expect((refused as Error).message).toContain(
        `(commit "revert ${MODEL} dev to ${V1} (from ${V2}): post-promotion verification failed"): soak: 1 alert(s) firing in ml-dev`,
      );
      expect(runSync('git', [...gitDir, 'rev-parse', 'main']).stdout.trim()).toBe(reverted);
    } finally {
      await prom.stop();
    }
  }, 900_000);

  /** A kubeconfig for CI's rollout-verifier (manifests/ci-access), with a TokenRequest token as `kubectl create token` gets. */
  async function rolloutKubeconfig(): Promise<string> {
    const token = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: 'rollout-verifier',
      namespace: 'ml-ci',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const cluster = kc.getCurrentCluster();
    const path = join(work, 'rollout.kubeconfig');
    await writeFile(
      path,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'local', cluster: { server: cluster?.server, 'certificate-authority': cluster?.caFile } },
        ],
        users: [{ name: 'rollout-verifier', user: { token: token.status?.token } }],
        contexts: [{ name: 'rollout', context: { cluster: 'local', user: 'rollout-verifier' } }],
        'current-context': 'rollout',
      }),
      { mode: 0o600 },
    );
    return path;
  }

  test('prod has no automated sync: a promotion waits for npm run sync, which the CI rollout-verifier account may run, and verify-rollout passes with that account alone', async () => {
    const commit = await promoteInFork(['--env', 'prod', '--version', V1]);
    // Argo CD has compared prod at the promotion commit, found it OutOfSync, and done nothing.
    await waitFor(
      'Application model-server-prod compared at the promotion commit',
      async () => {
        const s = (await readApp('model-server-prod')).status;
        return s?.sync?.revision === commit && s.sync.status === 'OutOfSync'
          ? undefined
          : `sync=${s?.sync?.status} revision=${s?.sync?.revision}`;
      },
      120_000,
    );
    const apps = kc.makeApiClient(AppsV1Api);
    await expect(
      apps.readNamespacedDeployment({ name: 'model-server', namespace: 'ml-prod' }),
    ).rejects.toMatchObject({ code: 404 });

    const kubeconfig = await rolloutKubeconfig();
    const out: string[] = [];
    expect(
      await sync(['--env', 'prod', '--kubeconfig', kubeconfig], {
        env: scriptEnv(),
        print: (t) => out.push(t),
      }),
    ).toBe(0);
    expect(out.join('')).toContain(`synced model-server-prod to ${commit.slice(0, 12)}`);
    const app = await readApp('model-server-prod');
    // The operation carries the Application's own sync options, as `argocd app sync` does.
    const options = (app as { spec?: { syncPolicy?: { syncOptions?: string[] } } }).spec?.syncPolicy
      ?.syncOptions;
    expect(options).toContain('ServerSideApply=true');
    expect(
      (app.status as { operationState?: { operation?: unknown } }).operationState?.operation,
    ).toMatchObject({ initiatedBy: { username: 'fork-owner' }, sync: { syncOptions: options } });

    const prod = await serveLikeThePod('prod', V1);
    const verified = await verifyCli([
      '--env',
      'prod',
      '--revision',
      commit,
      '--url',
      prod.url,
      '--kubeconfig',
      kubeconfig,
    ]);
    expect(verified).toMatchObject({ code: 0 });
    expect(verified.out).toContain(
      `Deployment ml-prod/model-server: [ok] 3/3 updated, 3 available, template version ${V1}`,
    );

    // ...and nothing more: no other Application, no spec change, no Secret.
    const asRollout = loadCluster({ kubeconfig });
    const rolloutApi = asRollout.kubeConfig.makeApiClient(CustomObjectsApi);
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const ref = { group: 'argoproj.io', version: 'v1alpha1', namespace: 'argocd', plural: 'applications' };
    await expect(
      rolloutApi.patchNamespacedCustomObject(
        { ...ref, name: 'model-server-dev', body: { operation: { sync: {} } } },
        merge,
      ),
    ).rejects.toMatchObject({ code: 403 });
    const specChange = await rolloutApi
      .patchNamespacedCustomObject(
        { ...ref, name: 'model-server-prod', body: { spec: { source: { targetRevision: 'some-branch' } } } },
        merge,
      )
      .catch((e: unknown) => e);
    expect(specChange).toMatchObject({ code: 422 });
    expect(String((specChange as ApiException<string>).body)).toContain(
      "rollout-verifier may request a sync (the operation field) only, not change the Application's spec",
    );
    const review = asRollout.kubeConfig.makeApiClient(AuthorizationV1Api);
    const can = async (
      namespace: string,
      verb: string,
      resource: string,
      subresource?: string,
      name?: string,
    ) =>
      (
        await review.createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { namespace, verb, resource, subresource, name } } },
        })
      ).status?.allowed ?? false;
    expect(await can('ml-prod', 'create', 'services', 'proxy', 'model-server:http')).toBe(true);
    expect(await can('ml-prod', 'get', 'secrets')).toBe(false);
    expect(await can('ml-prod', 'delete', 'pods')).toBe(false);
    expect(await can('kube-system', 'list', 'pods')).toBe(false);
  }, 900_000);

  test("/predict through the API server's Service proxy: no endpoints is waiting, an account without the right is refused at once", async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'proxy-check' } } });
    await core.createNamespacedService({
      namespace: 'proxy-check',
      body: {
        metadata: { name: 'model-server' },
        spec: {
          selector: { app: 'nothing-runs-here' },
          ports: [{ name: 'http', port: 80, targetPort: 8080 }],
        },
      },
    });
    const target = {
      kind: 'proxy',
      namespace: 'proxy-check',
      service: 'model-server',
      port: 'http',
    } as const;
    const smoke = { image: makeSmokePng(), contentType: 'image/png', version: V1, timeoutMs: 10_000 };
    const noEndpoints = await smokePredict({ ...target, kubeConfig: kc }, smoke);
    expect(noEndpoints).toEqual({
      ok: false,
      state: 'waiting',
      detail: `POST ${state.server}/api/v1/namespaces/proxy-check/services/model-server:http/proxy/predict: HTTP 503 from the API server's Service proxy: no endpoints available for service "model-server"`,
    });
    const asRollout = loadCluster({ kubeconfig: await rolloutKubeconfig() }).kubeConfig;
    await expect(smokePredict({ ...target, kubeConfig: asRollout }, smoke)).rejects.toThrow(
      /^the Kubernetes API server refused POST .*\/proxy-check\/services\/model-server:http\/proxy\/predict: HTTP 403 services "model-server:http" is forbidden: User "system:serviceaccount:ml-ci:rollout-verifier" cannot create resource "services\/proxy"/,
    );
  }, 120_000);
});
