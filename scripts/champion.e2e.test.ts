/**
 * Champion vs challenger on the same data, end to end: a champion trained
 * and pinned in prod, a candidate trained by ci:train on a pull request and
 * committed by publish-candidate (train.yml's two jobs; real git
 * repositories, a real MLflow server, the FAKE GitHub API), both scored on
 * the golden set the training config pins by digest; the PR comment shows
 * the paired result, and `npm run promote` (a real process,
 * reading golden.json from the MLflow artifact proxy, no TensorFlow) decides
 * with the pairedNonInferiority gate. Tiny configs: seconds of training.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import {
  addCandidate,
  emptyLock,
  entryFromArtifact,
  type LockedVersion,
  lockFiles,
  pinVersion,
  readLockFrom,
  versionIdOf,
} from '../lock/index.ts';
import { type GoldenEvaluation, pairedComparison, parseGoldenEvaluation } from '../model/golden/index.ts';
import { HANDOFF_DIR, trainAndRecord } from '../pipelines/training/index.ts';
import { gitRunner, treeSource } from '../platform/git/index.ts';
import { exitCodeOf, ProjectError } from '../platform/index.ts';
import { run as runCommand } from '../platform/shell.ts';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { makeTestRepos, pullRequestEnv, type TestRepos } from '../testing/git-repos.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../testing/mlflow.ts';
import { needs } from '../testing/services.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { type GoldenConfig, loadDataSource, type TrainingConfig } from '../training/index.ts';
import { main as publishCandidate } from './publish-candidate.ts';
import { main as trainCi } from './train-ci.ts';

const { describe } = needs(mlflowInstalled());
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL = 'tiny-classifier';
const TOKEN = 'ghs_faketoken';

let dir: string;
let golden: GoldenConfig;
let champion: { entry: LockedVersion; dir: string; version: string };
let gh: FakeGithub;
let mlflow: MlflowServer;
let repos: TestRepos;

/**
 * The tiny config with the golden set: `strong` trains 25 epochs (the champion),
 * the other one epoch at a learning rate of 1e-6 (the candidate: its initial weights, near enough).
 */
function config(seed: number, strong: boolean, g: GoldenConfig = golden): TrainingConfig {
  const base = tinyTrainingConfig({ name: MODEL, seed, dataPath: join(dir, 'data') });
  return {
    ...base,
    data: { ...base.data, perClass: 16 },
    model: { ...base.model, filters: [6] },
    training: strong
      ? { ...base.training, epochs: 25, learningRate: 0.02, earlyStopping: { patience: 25, minDelta: 0 } }
      : { ...base.training, epochs: 1, learningRate: 1e-6 },
    golden: g,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'champion-e2e-'));
  // The golden set's digest, as a person pins it once: generate it and read the digest.
  const settings = { seed: 7001, perClass: 20, size: 8, channels: 1 as const };
  const probe = await loadDataSource({ kind: 'generated', path: join(dir, 'golden-probe'), ...settings });
  golden = {
    name: 'tiny-golden',
    digest: probe.digest.root,
    kind: 'generated',
    path: join(dir, 'golden'),
    ...settings,
  };
  // The champion: trained with no lock (nothing pinned: its golden.json has no champion), then pinned in prod.
  const prod = await trainAndRecord({
    config: config(11, true),
    env: {},
    cwd: dir,
    outDir: join(dir, 'prod-artifact'),
    progress: false,
    log: () => {},
  });
  const entry = await entryFromArtifact(prod.train.artifactDir, {
    uri: 'artifacts/prod-v1',
    runId: null,
    modelVersion: null,
    trackingUri: null,
    gitCommit: null,
  });
  champion = { entry, dir: prod.train.artifactDir, version: versionIdOf(entry.rootDigest) };
  await writeFile(join(dir, 'candidate.json'), JSON.stringify(config(3, false)));
  await writeFile(
    join(dir, 'wrong-digest.json'),
    JSON.stringify(config(3, false, { ...golden, digest: `sha256:${'0'.repeat(64)}` })),
  );
  gh = await startFakeGithub({ token: TOKEN, owner: 'acme', repo: 'models', firstNumber: 7 });
  mlflow = await startMlflow();
  const lock = pinVersion(addCandidate(emptyLock(), { model: MODEL, entry }).lock, {
    model: MODEL,
    env: 'prod',
    version: champion.version,
    at: '2026-01-01T00:00:00.000Z',
  });
  const gates = (margin: number) =>
    `${JSON.stringify({
      gatesVersion: 1,
      environments: {
        dev: {
          source: 'newest',
          gates: { pairedNonInferiority: [{ vs: 'prod', margin, alpha: 0.05 }], verifyDigests: true },
        },
        prod: { source: 'dev', gates: { pairedNonInferiority: [{ vs: 'prod', margin, alpha: 0.05 }] } },
      },
    })}\n`;
  repos = await makeTestRepos({
    ...lockFiles(lock),
    'environments/promotion-gates.json': gates(0.01),
    'environments/lenient-gates.json': gates(1),
    'environments/dev/.gitkeep': '',
    'environments/prod/.gitkeep': '',
  });
  await cp(champion.dir, join(repos.work, 'artifacts', 'prod-v1'), { recursive: true });
}, 300_000);

afterAll(async () => {
  await gh?.close();
  await mlflow?.close();
  if (repos) await rm(repos.root, { recursive: true, force: true });
  if (dir) await rm(dir, { recursive: true, force: true });
});

const actionsEnv = (r: TestRepos) =>
  pullRequestEnv(r, { url: gh.url, token: TOKEN }, { MLFLOW_TRACKING_URI: mlflow.uri });

/** `npm run promote` as a real process in the work clone. */
const promote = (args: string[]) =>
  runCommand(
    process.execPath,
    [join(ROOT, 'node_modules', '.bin', 'tsx'), join(ROOT, 'scripts', 'promote.ts'), '--no-render', ...args],
    {
      cwd: repos.work,
      env: { ...repos.env, MLFLOW_TRACKING_URI: mlflow.uri },
      nothrow: true,
      timeoutMs: 300_000,
    },
  );

describe('champion vs challenger on the golden set', () => {
  it('a golden set that is not the pinned one stops ci:train before training, naming both digests', async () => {
    const env = await actionsEnv(repos);
    const err = await trainCi(
      ['--config', join(dir, 'wrong-digest.json'), '--out', 'artifacts/nope', '--lock', 'models.lock.json'],
      { env, cwd: repos.work, print: () => {}, log: () => {} },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).code).toBe('DIGEST_MISMATCH');
    expect((err as ProjectError).message.split('\n')[0]).toBe(
      `golden set "tiny-golden": the generated data in ${golden.path} has digest ${golden.digest}, but golden.digest in ${join(dir, 'wrong-digest.json')} pins sha256:${'0'.repeat(64)}`,
    );
    expect((err as ProjectError).hint).toContain(
      'set golden.digest to the new digest in a reviewed pull request',
    );
    expect(exitCodeOf(err)).toBe(1);
    expect(gh.comments.get(7) ?? []).toEqual([]);
    expect(lockClean()).toBe('');
  });

  it('ci:train scores the candidate and prod on the same examples; the comment and promote use the paired result', async () => {
    const env = await actionsEnv(repos);
    const code = await trainCi(
      ['--config', join(dir, 'candidate.json'), '--out', 'artifacts/candidate', '--lock', 'models.lock.json'],
      { env, cwd: repos.work, print: () => {}, log: () => {} },
    );
    expect(code).toBe(0);
    // The publish job, on main's code, checks the candidate the train job handed over and commits it.
    repos.git(['update-ref', 'refs/pull/7/head', repos.git(['rev-parse', 'HEAD'])], repos.origin);
    const base = join(repos.root, 'base');
    repos.git(['clone', '-q', '-b', 'main', repos.origin, base], repos.root);
    const published = await publishCandidate(['--from', join(repos.work, HANDOFF_DIR)], {
      env: { ...env, GITHUB_EVENT_NAME: 'pull_request_target', RUNNER_TEMP: repos.root },
      cwd: base,
      print: () => {},
      log: () => {},
    });
    expect(published).toBe(0);
    // The train job's checkout had the candidate in its lock only: a runner of its own, gone.
    repos.git(['clean', '-fdq', '--', 'models.lock.d']);
    repos.git(['checkout', '-q', '--', 'models.lock.json']);

    // golden.json is a file of the candidate's artifact, pinned by the lock entry's digests.
    const lock = await readLockFrom(
      treeSource(gitRunner(repos.origin, { env: repos.env }), repos.branch),
      'models.lock.json',
    );
    const candV = Object.keys(lock.models[MODEL]?.versions ?? {}).find(
      (v) => v !== champion.version,
    ) as string;
    const entry = lock.models[MODEL]?.versions[candV] as LockedVersion;
    expect(entry.artifactUri).toMatch(/^mlflow-artifacts:\//);
    expect(Object.keys(entry.digests)).toContain('golden.json');
    const g: GoldenEvaluation = parseGoldenEvaluation(
      JSON.parse(await readFile(join(repos.work, 'artifacts', 'candidate', 'golden.json'), 'utf8')),
      'golden.json',
    );
    expect([g.name, g.digest, g.truth.length, g.championEnv]).toEqual([
      'tiny-golden',
      golden.digest,
      80,
      'prod',
    ]);
    expect(g.champion?.version).toBe(champion.version);
    expect(g.champion?.rootDigest).toBe(champion.entry.rootDigest);
    // The champion was scored on exactly the examples it scored itself on when it was trained.
    const own = parseGoldenEvaluation(
      JSON.parse(await readFile(join(champion.dir, 'golden.json'), 'utf8')),
      'champion',
    );
    expect(own.champion).toBeUndefined();
    expect([own.digest, own.orderDigest, own.truth]).toEqual([g.digest, g.orderDigest, g.truth]);
    expect(g.champion?.predicted).toEqual(own.predicted);

    // The discordant pairs, counted here from the predictions.
    const champ = g.champion?.predicted as number[];
    const fixed = g.truth.filter((t, i) => g.predicted[i] === t && champ[i] !== t).length;
    const broken = g.truth.filter((t, i) => g.predicted[i] !== t && champ[i] === t).length;
    const right = (p: number[]) => g.truth.filter((t, i) => p[i] === t).length;
    const r = pairedComparison({
      labels: g.labels,
      truth: g.truth,
      candidate: g.predicted,
      champion: champ,
      margin: 0.01,
      alpha: 0.05,
    });
    expect([r.b, r.c]).toEqual([fixed, broken]);
    // The premise of the refusal below: on 80 examples, with these two models, the bound is well below −1 pt.
    expect(r.lowerBound).toBeLessThan(-0.01);

    const body = gh.comments.get(7)?.[0]?.body ?? '';
    expect(body).toContain('#### Champion vs challenger on the golden set');
    expect(body).toContain(
      `Golden set **tiny-golden** (\`${golden.digest}\`, n = 80), scored in this run by the candidate and by **${champion.version}**, the version pinned in prod: the same examples for both.`,
    );
    expect(body).toContain(
      `| prod (${champion.version}) | ${(right(champ) / 80).toFixed(4)} | ${right(champ)}/80 |`,
    );
    expect(body).toContain(
      `| candidate (${candV}) | ${(right(g.predicted) / 80).toFixed(4)} | ${right(g.predicted)}/80 |`,
    );
    expect(body).toContain(
      `Discordant pairs: **${fixed}** fixed by the candidate (prod wrong, candidate right), **${broken}** broken`,
    );
    expect(body).toContain(
      'margin 1 pt, from pairedNonInferiority vs prod of environment prod in `environments/promotion-gates.json`.',
    );
    expect(body).toMatch(
      /\*\*Verdict: not shown to be within 1 pt of prod \(one-sided 95% bound −[0-9.]+ pt, needs above −1 pt\)\.\*\* The promotion gate pairedNonInferiority refuses it\./,
    );
    expect(body).toContain('| class | n | prod | candidate | Δ | fixed | broken |');
    for (const label of g.labels)
      expect(body).toMatch(
        new RegExp(
          `^\\| ${label} \\| 20 \\| [01]\\.\\d{3} \\| [01]\\.\\d{3} \\| [+−±]\\d+\\.\\d pt \\| \\d+ \\| \\d+ \\|$`,
          'm',
        ),
      );
    const summary = await readFile(env.GITHUB_STEP_SUMMARY, 'utf8');
    expect(summary).toContain('#### Champion vs challenger on the golden set');

    // The promotion decides on the same pairs, reading golden.json from MLflow (a real process, no TensorFlow).
    repos.git(['fetch', '-q', 'origin']);
    repos.git(['checkout', '-q', `origin/${repos.branch}`]);
    const refused = await promote(['--env', 'dev']);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(
      new RegExp(
        `pairedNonInferiority vs prod .*not shown to be within 1 pt of prod ${champion.version}.*\\(n=80, ${fixed} fixed / ${broken} broken, McNemar p=[0-9.<]+ ?[0-9.]*\\)\\s+FAIL`,
      ),
    );
    expect(refused.stderr).toContain(
      `promotion of ${MODEL} version ${candV} to dev refused: 1 of 2 gate(s) failed:`,
    );
    expect(lockClean()).toBe('');
    // With a margin no candidate can miss (a reviewed change of the gates), the same pairs pass.
    const passed = await promote(['--env', 'dev', '--gates', 'environments/lenient-gates.json']);
    expect([passed.code, passed.stderr.slice(-1500)]).toEqual([0, expect.any(String)]);
    expect(passed.stdout).toMatch(
      new RegExp(
        `pairedNonInferiority vs prod .*not worse than prod ${champion.version} by more than 100 pt .*\\s+pass`,
      ),
    );
    const after = JSON.parse(await readFile(join(repos.work, 'models.lock.json'), 'utf8'));
    expect(after.models[MODEL].pins).toEqual({ prod: champion.version, dev: candV });
  });
});

/** The lock files of the work clone are as committed. */
const lockClean = () =>
  repos.git(['status', '--porcelain', '--', 'models.lock.json', 'models.lock.d', 'environments']);
