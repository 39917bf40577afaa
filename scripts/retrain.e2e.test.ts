/**
 * retrain against real git repositories and the FAKE GitHub API server
 * (testing/fake-github.ts), with a tiny training config (< 1 s).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  addCandidate,
  emptyLock,
  entryFromArtifact,
  type Lock,
  type LockedVersion,
  lockFiles,
  pinVersion,
  readLockFrom,
  versionIdOf,
  versionsOldestFirst,
} from '../lock/index.ts';
import { trainAndRecord } from '../pipelines/training/index.ts';
import { gitRunner, treeSource } from '../platform/git/index.ts';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { makeTestRepos, type TestRepos } from '../testing/git-repos.ts';
import {
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { loadTrainingConfig } from '../training/index.ts';
import { main, reasonFromEvent } from './retrain.ts';

const MODEL = 'tiny-classifier';
const TOKEN = 'ghs_retraintoken';
const NOW = new Date('2026-03-04T05:17:00.000Z');
let dir: string;
let configPath: string;
let prodArtifact: string;
let prodEntry: LockedVersion;
let gh: FakeGithub;
let repos: TestRepos | undefined;

const tiny = (seed: number) => tinyTrainingConfig({ name: MODEL, seed, dataPath: join(dir, 'data') });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'retrain-'));
  configPath = join(dir, 'tiny.json');
  await writeFile(configPath, JSON.stringify(tiny(5)));
  await writeFile(join(dir, 'prod.json'), JSON.stringify(tiny(13)));
  const prod = await trainAndRecord({
    config: await loadTrainingConfig(join(dir, 'prod.json')),
    env: {},
    cwd: dir,
    outDir: join(dir, 'prod-artifact'),
    progress: false,
    log: () => {},
  });
  prodArtifact = prod.train.artifactDir;
  prodEntry = await entryFromArtifact(prodArtifact, {
    uri: 'artifacts/prod-v1',
    runId: null,
    modelVersion: null,
    trackingUri: null,
    gitCommit: null,
  });
  gh = await startFakeGithub({ token: TOKEN, owner: 'acme', repo: 'models', firstNumber: 31 });
});

afterEach(async () => {
  if (repos) await rm(repos.root, { recursive: true, force: true });
  repos = undefined;
  gh.pulls.length = 0;
  gh.requests.length = 0;
});

afterAll(async () => {
  await gh?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The version id of the prod artifact (content-addressed). */
const prodVersion = () => versionIdOf(prodEntry.rootDigest);

function lockWithProd(entry: LockedVersion = prodEntry): Lock {
  const added = addCandidate(emptyLock(), { model: MODEL, entry });
  return pinVersion(added.lock, {
    model: MODEL,
    env: 'prod',
    version: prodVersion(),
    at: '2026-01-01T00:00:00.000Z',
  });
}

async function setup(lock: Lock, gates?: unknown): Promise<TestRepos> {
  const files: Record<string, string> = lockFiles(lock);
  if (gates) files['environments/promotion-gates.json'] = `${JSON.stringify(gates, null, 2)}\n`;
  repos = await makeTestRepos(files);
  repos.git(['checkout', '-q', 'main']);
  await cp(prodArtifact, join(repos.work, 'artifacts', 'prod-v1'), { recursive: true });
  return repos;
}

const gatesWith = (minAccuracy: number, margin: number, metricsPresent?: string[]) => ({
  gatesVersion: 1,
  environments: {
    prod: {
      source: 'staging',
      gates: {
        ...(metricsPresent ? { metricsPresent } : {}),
        minMetric: { accuracy: minAccuracy },
        maxMetricDrop: [{ metric: 'accuracy', vs: 'prod', margin }],
        verifyDigests: true,
      },
    },
  },
});

const envOf = (r: TestRepos) => ({
  ...r.env,
  GITHUB_ACTIONS: 'true',
  GITHUB_EVENT_NAME: 'schedule',
  GITHUB_REPOSITORY: 'acme/models',
  GITHUB_TOKEN: TOKEN,
  GITHUB_API_URL: gh.url,
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_RUN_ID: '99',
});

async function run(r: TestRepos, extra: string[] = [], env: Record<string, string> = {}) {
  const lines: string[] = [];
  const code = await main(['--config', configPath, '--base', 'main', ...extra], {
    env: { ...envOf(r), ...env },
    cwd: r.work,
    now: () => NOW,
    print: (l) => lines.push(l),
    log: (l) => lines.push(l),
  });
  return { code, out: lines.join('\n') };
}

describe('npm run retrain', () => {
  it('opens a labelled pull request from retrain/<date>-<sha> with the candidate when it passes the gates', async () => {
    const r = await setup(lockWithProd(), gatesWith(0, 1));
    const mainSha = r.git(['rev-parse', 'main'], r.origin);
    const branch = `retrain/20260304-${mainSha.slice(0, 7)}`;
    const { code, out } = await run(r);
    expect(code).toBe(0);
    const lock = await readLockFrom(
      treeSource(gitRunner(r.origin, { env: r.env }), branch),
      'models.lock.json',
    );
    const [prodV, candV] = versionsOldestFirst(lock.models[MODEL]!);
    expect(prodV).toBe(prodVersion());
    expect(candV).toMatch(/^v[0-9a-f]{12}$/);
    expect(lock.models[MODEL]?.pins).toEqual({ prod: prodV });
    expect(r.git(['rev-parse', `${branch}~1`], r.origin)).toBe(mainSha);
    expect(gh.pulls).toHaveLength(1);
    const pr = gh.pulls[0];
    expect(pr?.number).toBe(31);
    expect(pr?.head.ref).toBe(branch);
    expect(pr?.base.ref).toBe('main');
    expect(pr?.labels.map((l) => l.name)).toEqual(['retrain']);
    expect(pr?.title).toMatch(
      new RegExp(`^retrain: tiny-classifier@${candV} \\(accuracy \\d\\.\\d{4} vs prod ${prodV}\\)$`),
    );
    expect(pr?.body).toContain(`| metric | candidate (${candV}) | prod (${prodV}) | delta |`);
    expect(pr?.body).toContain('**Gates** (environments/promotion-gates.json, environment prod): passed');
    expect(pr?.body).toMatch(
      new RegExp(
        `^\\| maxMetricDrop accuracy vs prod \\| >= -?[\\d.]+ \\(prod version ${prodV}: [\\d.]+ - 1\\) \\| [\\d.]+ \\| pass \\|$`,
        'm',
      ),
    );
    expect(pr?.body).toMatch(
      /^\| verifyDigests \| every file has its locked sha256 \| \d+ files ok \| pass \|$/m,
    );
    expect(pr?.body).toContain('Started by: the schedule event');
    expect(out).toContain('pull request #31: https://github.com/acme/models/pull/31');
    expect(gh.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      'GET /repos/acme/models/pulls',
      'POST /repos/acme/models/pulls',
      'POST /repos/acme/models/issues/31/labels',
    ]);
  });

  it('opens nothing when the candidate fails a gate, says why, and deletes its branch', async () => {
    const r = await setup(lockWithProd(), gatesWith(1.01, 0));
    const lockBefore = await readFile(join(r.work, 'models.lock.json'), 'utf8');
    const { code, out } = await run(r);
    expect(code).toBe(0);
    expect(out).toMatch(
      /not better than prod: no pull request \(minMetric accuracy: expected >= 1\.01, got [\d.]+[;)]/,
    );
    expect(gh.pulls).toEqual([]);
    expect(gh.requests).toEqual([]);
    expect(r.git(['branch', '--list', 'retrain/*'])).toBe('');
    expect(r.git(['branch', '--list', 'retrain/*'], r.origin)).toBe('');
    expect(r.git(['rev-parse', '--abbrev-ref', 'HEAD'])).toBe('main');
    expect(await readFile(join(r.work, 'models.lock.json'), 'utf8')).toBe(lockBefore);
    expect(
      r.git(['status', '--porcelain', '--untracked-files=all', '--', 'models.lock.json', 'models.lock.d']),
    ).toBe('');
  });

  it('regression: retrain ignored metricsPresent (its own gate code); now it evaluates the promotion gates', async () => {
    const r = await setup(lockWithProd(), gatesWith(0, 1, ['accuracy', 'calibration_error']));
    const { code, out } = await run(r);
    expect(code).toBe(0);
    expect(out).toMatch(
      /no pull request \(metricsPresent: expected accuracy, calibration_error, got missing: calibration_error\)/,
    );
    expect(gh.pulls).toEqual([]);
  });

  it('without a gates file requires accuracy >= prod', async () => {
    const r = await setup(lockWithProd({ ...prodEntry, metrics: { ...prodEntry.metrics, accuracy: 1 } }));
    const { code, out } = await run(r);
    expect(code).toBe(0);
    expect(out).toContain("**Gates** (no gates file: accuracy >= prod's): not passed");
    expect(out).toMatch(
      new RegExp(
        `no pull request \\(maxMetricDrop accuracy vs prod: expected >= 1 \\(prod version ${prodVersion()}: 1 - 0\\), got [\\d.]+\\)`,
      ),
    );
    expect(gh.pulls).toEqual([]);
  });

  describe('--if-drift (the scheduled run) asks a real Prometheus whether a drift alert fires', () => {
    const withPrometheus = needs(prometheusInstalled());
    /** A Prometheus whose only rule is `alert`, firing (vector(1)) or not. */
    async function promWith(firing: boolean): Promise<RunningPrometheus> {
      const rules = join(dir, `drift-${firing}.yaml`);
      await writeFile(
        rules,
        `groups:\n  - name: drift\n    rules:\n      - alert: ServingFeatureDrift\n        expr: ${firing ? 'vector(1)' : 'vector(0) > 1'}\n        labels: { feature: contrast, method: ks }\n`,
      );
      const prom = await startPrometheus({ ruleFiles: [rules], selfScrape: true });
      // Two evaluation rounds of the rule group (Prometheus' own metric), so a rule that fires has fired.
      await prom.waitFor('prometheus_rule_group_iterations_total', (s) => Number(s[0]?.value[1] ?? 0) >= 2);
      return prom;
    }

    withPrometheus.it('no drift alert firing: nothing is trained, no branch, no pull request', async () => {
      const prom = await promWith(false);
      try {
        const r = await setup(lockWithProd(), gatesWith(0, 1));
        const { code, out } = await run(r, ['--if-drift'], { PROMETHEUS_URL: prom.url });
        expect(code).toBe(0);
        expect(out).toContain(`no drift alert firing on ${prom.url}: nothing retrained`);
        expect(out).not.toContain('retrain: branch');
        expect(gh.requests).toEqual([]);
        expect(r.git(['branch', '--list', 'retrain/*'], r.origin)).toBe('');
      } finally {
        await prom.stop();
      }
    });

    withPrometheus.it(
      'a drift alert firing: retrains and opens the pull request, naming the alert as the reason',
      async () => {
        const prom = await promWith(true);
        try {
          await prom.waitFor('ALERTS{alertstate="firing"}');
          const r = await setup(lockWithProd(), gatesWith(0, 1));
          const { code } = await run(r, ['--if-drift'], { PROMETHEUS_URL: prom.url });
          expect(code).toBe(0);
          expect(gh.pulls).toHaveLength(1);
          expect(gh.pulls[0]?.body).toContain(
            `Started by: drift alert(s) firing on ${prom.url}: ServingFeatureDrift (feature=contrast, method=ks)`,
          );
        } finally {
          await prom.stop();
        }
      },
    );

    it('refuses --if-drift without PROMETHEUS_URL (exit 2), and fails when Prometheus does not answer', async () => {
      const r = await setup(lockWithProd(), gatesWith(0, 1));
      await expect(run(r, ['--if-drift'])).rejects.toMatchObject({
        code: 'USAGE',
        message: expect.stringContaining('--if-drift needs PROMETHEUS_URL'),
      });
      await expect(run(r, ['--if-drift'], { PROMETHEUS_URL: 'http://127.0.0.1:9' })).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
      expect(gh.requests).toEqual([]);
    });
  });

  it('names the reason a workflow_dispatch gave (the alert relay: the drift alerts)', async () => {
    const path = join(dir, 'dispatch.json');
    // The event payload of a workflow_dispatch: its inputs, its ref, the workflow's path.
    await writeFile(
      path,
      JSON.stringify({
        inputs: { reason: 'ServingFeatureDrift (ml-prod): Input drift on brightness (psi)' },
        ref: 'refs/heads/main',
        workflow: '.github/workflows/drift.yml',
      }),
    );
    expect(reasonFromEvent({ GITHUB_EVENT_NAME: 'workflow_dispatch', GITHUB_EVENT_PATH: path })).toBe(
      'the workflow_dispatch event: ServingFeatureDrift (ml-prod): Input drift on brightness (psi)',
    );
    await writeFile(path, JSON.stringify({ inputs: { reason: '' } }));
    expect(reasonFromEvent({ GITHUB_EVENT_NAME: 'workflow_dispatch', GITHUB_EVENT_PATH: path })).toBe(
      'the workflow_dispatch event',
    );
    expect(reasonFromEvent({ GITHUB_EVENT_NAME: 'schedule', GITHUB_EVENT_PATH: path })).toBe(
      'the schedule event',
    );
    expect(reasonFromEvent({ GITHUB_EVENT_NAME: 'workflow_dispatch' })).toBe('the workflow_dispatch event');
  });
});
