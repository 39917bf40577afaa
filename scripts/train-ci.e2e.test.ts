import { existsSync } from 'node:fs';
/**
 * ci:train (train.yml's train job: the pull request's code, read-only, no
 * GitHub token) against real git repositories (a bare origin, the PR clone)
 * and the FAKE GitHub API server (testing/fake-github.ts, to show it is never
 * called), with a tiny training config (< 1 s). What the publish job does with
 * the handoff: scripts/publish-candidate.e2e.test.ts.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  versionFileOf,
  versionIdOf,
  versionsOldestFirst,
} from '../lock/index.ts';
import { CANDIDATE_FILE, HANDOFF_DIR, readHandoff, trainAndRecord } from '../pipelines/training/index.ts';
import { exitCodeOf, fileTree, ProjectError } from '../platform/index.ts';
import { run as runCommand } from '../platform/shell.ts';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { makeTestRepos, pullRequestEnv, type TestRepos } from '../testing/git-repos.ts';
import { mlflowInstalled, startMlflow } from '../testing/mlflow.ts';
import { needs } from '../testing/services.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { loadTrainingConfig } from '../training/index.ts';
import { main } from './train-ci.ts';

const MODEL = 'tiny-classifier';
const TOKEN = 'ghs_faketoken';
let dir: string;
let configPath: string;
let prodArtifact: string;
let prodEntry: LockedVersion;
let gh: FakeGithub;
let repos: TestRepos | undefined;

function tinyConfig(seed: number) {
  return tinyTrainingConfig({ name: MODEL, seed, dataPath: join(dir, 'data') });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'train-ci-'));
  configPath = join(dir, 'tiny.json');
  await writeFile(configPath, JSON.stringify(tinyConfig(3)));
  await writeFile(join(dir, 'prod.json'), JSON.stringify(tinyConfig(11)));
  // The version in prod: a real artifact of the same model, trained once.
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
  gh = await startFakeGithub({ token: TOKEN, owner: 'acme', repo: 'models', firstNumber: 7 });
});

afterEach(async () => {
  if (repos) await rm(repos.root, { recursive: true, force: true });
  repos = undefined;
  gh.comments.clear();
  gh.requests.length = 0;
});

afterAll(async () => {
  await gh?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The version id of the prod artifact (content-addressed). */
const prodVersion = () => versionIdOf(prodEntry.rootDigest);

function lockWithProd(): Lock {
  const added = addCandidate(emptyLock(), { model: MODEL, entry: prodEntry });
  return pinVersion(added.lock, {
    model: MODEL,
    env: 'prod',
    version: prodVersion(),
    at: '2026-01-01T00:00:00.000Z',
  });
}

async function setup(lock: Lock = lockWithProd()): Promise<TestRepos> {
  repos = await makeTestRepos({ ...lockFiles(lock), 'README.md': '# models\n' });
  await cp(prodArtifact, join(repos.work, 'artifacts', 'prod-v1'), { recursive: true });
  return repos;
}

const actionsEnv = (r: TestRepos, overrides: Record<string, string | undefined> = {}) =>
  pullRequestEnv(r, { url: gh.url, token: TOKEN }, overrides);

const run = (r: TestRepos, env: Record<string, string | undefined>, extra: Parameters<typeof main>[1] = {}) =>
  main(['--config', configPath, '--out', 'artifacts/candidate', '--lock', 'models.lock.json'], {
    env,
    cwd: r.work,
    print: () => {},
    log: () => {},
    ...extra,
  });

/** The version ids of a lock's model, oldest first. */
const idsOf = (lock: Lock) => versionsOldestFirst(lock.models[MODEL] ?? { versions: {} });

describe('npm run ci:train', () => {
  it('stops with a USAGE error naming what is missing and leaves git and the lock unchanged', async () => {
    const r = await setup();
    const lockBefore = await readFile(join(r.work, 'models.lock.json'), 'utf8');
    const headBefore = r.git(['rev-parse', 'HEAD']);
    const env = await actionsEnv(r);
    for (const [overrides, expected] of [
      [
        { GITHUB_EVENT_PATH: undefined },
        'missing GitHub context: GITHUB_EVENT_PATH (the event payload file)',
      ],
      [
        { GITHUB_EVENT_NAME: 'push' },
        'missing GitHub context: a pull_request event (GITHUB_EVENT_NAME is "push")',
      ],
      [
        { GITHUB_TOKEN: undefined, GITHUB_REPOSITORY: undefined },
        'missing GitHub context: GITHUB_REPOSITORY ("owner/repo")',
      ],
    ] as const) {
      const err = await run(r, { ...env, ...overrides }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProjectError);
      expect((err as ProjectError).message.split('\n')[0]).toBe(expected);
      expect((err as ProjectError).message).toContain('GitHub Actions job');
      expect(exitCodeOf(err)).toBe(2);
    }
    expect(await readFile(join(r.work, 'models.lock.json'), 'utf8')).toBe(lockBefore);
    expect(r.git(['rev-parse', 'HEAD'])).toBe(headBefore);
    expect(r.git(['status', '--porcelain', '--', 'models.lock.json'])).toBe('');
    expect(r.git(['rev-parse', r.branch], r.origin)).toBe(headBefore);
    expect(gh.requests).toEqual([]);
  });

  it('on a gpu runner (TRAINING_BACKEND=tensorflow-gpu) without a usable GPU fails fast with the preflight, touching nothing', async () => {
    const r = await setup();
    const lockBefore = await readFile(join(r.work, 'models.lock.json'), 'utf8');
    const headBefore = r.git(['rev-parse', 'HEAD']);
    const env = await actionsEnv(r, {
      TRAINING_BACKEND: 'tensorflow-gpu',
      GITOPS_ML_CACHE: join(r.root, 'cache'),
    });
    // a machine with no NVIDIA driver: an empty folder stands for /
    const bare = join(r.root, 'bare-root');
    await mkdir(bare, { recursive: true });
    const err = await run(r, env, { fsRoot: bare }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).code).toBe('UNAVAILABLE');
    expect(exitCodeOf(err)).toBe(1);
    const message = (err as ProjectError).message;
    expect(message.split('\n')[0]).toBe(
      'TRAINING_BACKEND=tensorflow-gpu, but this machine cannot train on the GPU; not falling back to the CPU.',
    );
    expect(message).toMatch(/NO {2}NVIDIA driver +none/);
    expect(message).toContain('install the NVIDIA driver 525.60.13 or newer');
    expect(message).toContain('run `bash scripts/setup.d/71-tfjs-native-gpu.sh`');
    expect(await readFile(join(r.work, 'models.lock.json'), 'utf8')).toBe(lockBefore);
    expect(r.git(['rev-parse', r.branch], r.origin)).toBe(headBefore);
    expect(gh.requests).toEqual([]); // stopped before the GitHub API, git and MLflow
    expect(existsSync(join(r.work, 'artifacts', 'candidate'))).toBe(false); // and before training
    const bad = await run(r, { ...env, TRAINING_BACKEND: 'tpu' }).catch((e: unknown) => e);
    expect((bad as ProjectError).message).toBe(
      'TRAINING_BACKEND=tpu is not one of tensorflow-gpu, tensorflow, cpu',
    );
    expect(exitCodeOf(bad)).toBe(2);
  });

  it('trains the pull request with no token and no write: hands the candidate and the report over, pushes nothing, calls no API', async () => {
    const r = await setup();
    const headBefore = r.git(['rev-parse', 'HEAD']);
    // train.yml's train job runs the pull request's code: no GITHUB_TOKEN in its environment.
    const env = await actionsEnv(r, { GITHUB_TOKEN: undefined, GITHUB_EVENT_NAME: 'pull_request_target' });
    expect(await run(r, env)).toBe(0);

    // Nothing reached origin or GitHub; the candidate is in this checkout's lock only.
    expect(r.git(['rev-parse', r.branch], r.origin)).toBe(headBefore);
    expect(r.git(['rev-parse', 'HEAD'])).toBe(headBefore);
    expect(gh.requests).toEqual([]);
    const local = await readLockFrom(fileTree, join(r.work, 'models.lock.json'));
    const [prodV, candV] = idsOf(local) as [string, string];
    expect(prodV).toBe(prodVersion());
    expect(r.git(['status', '--porcelain', '--untracked-files=all', '--', 'models.lock.d'])).toBe(
      `?? models.lock.d/${MODEL}/${candV}.json`,
    );

    // The handoff: what the publish job checks and commits (scripts/publish-candidate.e2e.test.ts).
    const handoff = await readHandoff(join(r.work, HANDOFF_DIR));
    expect(handoff.model).toBe(MODEL);
    expect(handoff.version).toBe(candV);
    const cand = handoff.entry;
    expect(cand).toEqual(local.models[MODEL]?.versions[candV]);
    expect(cand.gitCommit).toBe(headBefore);
    const report = handoff.report;
    expect(report).toContain(`| metric | candidate (${candV}) | prod (${prodV}) | delta |`);
    const acc = (n: number) => n.toFixed(4);
    const delta = cand.metrics.accuracy! - prodEntry.metrics.accuracy!;
    const sign = Number(Math.abs(delta).toFixed(3)) === 0 ? '±' : delta > 0 ? '+' : '-';
    expect(report).toContain(
      `| accuracy | ${acc(cand.metrics.accuracy!)} | ${acc(prodEntry.metrics.accuracy!)} | ${sign}${Math.abs(delta).toFixed(3)} |`,
    );
    expect(report).toContain('| class | precision | Δ | recall | Δ | F1 | Δ | support |');
    expect(report).toMatch(/^\| circle \| \d\.\d{3} \| [+\-±]\d\.\d{3} \|/m);
    expect(report).toContain(
      '`confusion-matrix.png`, `learning-curves.png` in the artifact folder `artifacts/candidate`',
    );
    // The job summary: the report and where the entry goes next.
    const summary = await readFile(env.GITHUB_STEP_SUMMARY, 'utf8');
    expect(summary).toContain(report.trim());
    expect(summary).toContain(
      `Lock: \`${MODEL}\` version ${candV} goes to the \`publish\` job, which checks it against its run with the base branch's code and then commits it to \`${r.branch}\``,
    );
  });

  it('says when the prod artifact cannot be fetched', async () => {
    const r = await setup();
    await rm(join(r.work, 'artifacts', 'prod-v1'), { recursive: true });
    expect(await run(r, await actionsEnv(r))).toBe(0);
    const { report } = await readHandoff(join(r.work, HANDOFF_DIR));
    expect(report).toMatch(
      new RegExp(
        `\\| metric \\| candidate \\(v[0-9a-f]{12}\\) \\| prod \\(${prodVersion()}\\) \\| delta \\|`,
      ),
    );
    expect(report).toContain(
      `> Per-class metrics of prod (version ${prodVersion()}) could not be fetched (artifacts/prod-v1:`,
    );
    expect(report).toContain('| class | precision | recall | F1 | support |');
  });

  it('says "none yet" when nothing is in prod', async () => {
    const r = await setup(emptyLock());
    expect(await run(r, await actionsEnv(r))).toBe(0);
    const { report } = await readHandoff(join(r.work, HANDOFF_DIR));
    expect(report).toContain('no version of `tiny-classifier` is pinned in prod yet (none yet)');
    expect(report).toMatch(/^\| accuracy \| \d\.\d{4} \| none yet \| – \|$/m);
  });
});

describe('regression (issue 11): a tracking URI with user:password was printed raw into PR comments', () => {
  const ROOT = fileURLToPath(new URL('..', import.meta.url));
  const PASSWORD = 's3cr3t-Pa55w0rd';

  needs(mlflowInstalled()).it(
    'https://user:pass@host never reaches the report (the PR comment), the handoff, the job summary, the lock, nor the stdout/stderr of ci:train',
    async () => {
      const mlflow = (await startMlflow())!; // installed: needs() above skips (outside CI) or fails (CI) otherwise
      try {
        const r = await setup();
        const withCredentials = new URL(mlflow.uri);
        withCredentials.username = 'alice';
        withCredentials.password = PASSWORD;
        const env = await actionsEnv(r, { MLFLOW_TRACKING_URI: withCredentials.href });
        // The real process, as train.yml runs it: runMain's output included.
        const out = await runCommand(
          process.execPath,
          [
            join(ROOT, 'node_modules', '.bin', 'tsx'),
            join(ROOT, 'scripts', 'train-ci.ts'),
            '--config',
            configPath,
            '--out',
            'artifacts/candidate',
            '--lock',
            'models.lock.json',
          ],
          { cwd: r.work, env, nothrow: true, timeoutMs: 600_000 },
        );
        expect([out.code, out.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);

        // What leaves the job: the handoff (the report that becomes the PR comment, the lock entry), the summary.
        const handoff = await readHandoff(join(r.work, HANDOFF_DIR));
        const candidateText = await readFile(join(r.work, HANDOFF_DIR, CANDIDATE_FILE), 'utf8');
        const summary = await readFile(env.GITHUB_STEP_SUMMARY, 'utf8');
        const lock = await readLockFrom(fileTree, join(r.work, 'models.lock.json'));
        const id = idsOf(lock).at(-1) ?? '';
        // The index and the new version's file, as written in the checkout.
        const lockText = `${await readFile(join(r.work, 'models.lock.json'), 'utf8')}\n${await readFile(join(r.work, versionFileOf('models.lock.json', MODEL, id)), 'utf8')}`;
        // The links are there, to the clean tracking URI: the report lost nothing but the credentials.
        expect(handoff.report).toMatch(
          new RegExp(`\\(${mlflow.uri.replace(/[.]/g, '\\.')}/#/experiments/\\d+/runs/[0-9a-f]+\\)`),
        );
        expect(summary).toContain(`${mlflow.uri}/api/2.0/mlflow-artifacts/artifacts/`);
        const entry = lock.models[MODEL]?.versions[id];
        expect(entry?.mlflow.trackingUri).toBe(mlflow.uri);
        expect(handoff.entry).toEqual(entry);
        // runMain masks the password first (core.setSecret): the runner consumes these
        // ::add-mask:: commands and replaces the value by *** in all the log, never showing them.
        const lines = out.stdout.split('\n');
        expect(lines.filter((l) => l.startsWith('::add-mask::'))).toContain(`::add-mask::${PASSWORD}`);
        const log = lines.filter((l) => !l.startsWith('::add-mask::')).join('\n');
        expect(gh.requests).toEqual([]);
        for (const [where, text] of [
          ['report (the PR comment)', handoff.report],
          ['lock entry handed over', candidateText],
          ['job summary', summary],
          ['lock', lockText],
          ['stdout (the log)', log],
          ['stderr', out.stderr],
        ] as const) {
          expect([where, text.includes(PASSWORD), text.includes('alice:')]).toEqual([where, false, false]);
        }
      } finally {
        await mlflow.close();
      }
    },
  );
});
