import { existsSync } from 'node:fs';
/**
 * train:ci against real git repositories (a bare origin, the PR clone, a
 * teammate's clone that pushes meanwhile) and the FAKE GitHub API server
 * (testing/fake-github.ts), with a tiny training config (< 1 s).
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
  writeLock,
} from '../lock/index.ts';
import { trainAndRecord } from '../pipelines/training/index.ts';
import { gitRunner, treeSource } from '../platform/git/index.ts';
import { exitCodeOf, fileTree, ProjectError, rootDigest } from '../platform/index.ts';
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

/** The lock (index and version files) on origin's PR branch. */
const originLock = (r: TestRepos) =>
  readLockFrom(treeSource(gitRunner(r.origin, { env: r.env }), r.branch), 'models.lock.json');
/** The version ids of a lock's model, oldest first. */
const idsOf = (lock: Lock) => versionsOldestFirst(lock.models[MODEL] ?? { versions: {} });

describe('npm run train:ci', () => {
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
        'missing GitHub context: GITHUB_REPOSITORY ("owner/repo"), GITHUB_TOKEN',
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

  it('commits the candidate to the PR branch, writes the summary, comments once and updates that comment on a re-run', async () => {
    const r = await setup();
    const env = await actionsEnv(r);
    expect(await run(r, env)).toBe(0);

    const lock = await originLock(r);
    const [prodV, candV] = idsOf(lock) as [string, string];
    expect(prodV).toBe(prodVersion());
    expect(lock.models[MODEL]?.pins).toEqual({ prod: prodV });
    const cand = lock.models[MODEL]?.versions[candV] as LockedVersion;
    expect(candV).toBe(`v${cand.rootDigest.slice(0, 12)}`);
    expect(cand.gitCommit).toBe(
      JSON.parse(await readFile(env.GITHUB_EVENT_PATH, 'utf8')).pull_request.head.sha,
    );
    const message = r.git(['log', '-1', '--format=%B', r.branch], r.origin);
    expect(message).toMatch(
      new RegExp(`^train: ${MODEL}@${candV} candidate \\(accuracy \\d\\.\\d{4}\\)\\n\\n`),
    );
    expect(message).toContain(
      `Model-Version: ${MODEL}@${candV}\nModel-Root-Digest: ${cand.rootDigest}\nPull-Request: #7`,
    );
    // The candidate is one new file; the index (pins, promotions) is untouched.
    expect(r.git(['show', '--name-only', '--format=', r.branch], r.origin)).toBe(
      `models.lock.d/${MODEL}/${candV}.json`,
    );
    expect(message).toContain('Workflow-Run: https://github.com/acme/models/actions/runs/4242');
    expect(r.git(['log', '-1', '--format=%an <%ae>', r.branch], r.origin)).toBe(
      'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>',
    );

    const comments = gh.comments.get(7) ?? [];
    expect(comments).toHaveLength(1);
    const body = comments[0]?.body ?? '';
    expect(body.startsWith(`<!-- gitops-ml:train:${MODEL} -->\n`)).toBe(true);
    expect(body).toContain(`| metric | candidate (${candV}) | prod (${prodV}) | delta |`);
    const acc = (n: number) => n.toFixed(4);
    const delta = cand.metrics.accuracy! - prodEntry.metrics.accuracy!;
    const sign = Number(Math.abs(delta).toFixed(3)) === 0 ? '±' : delta > 0 ? '+' : '-';
    expect(body).toContain(
      `| accuracy | ${acc(cand.metrics.accuracy!)} | ${acc(prodEntry.metrics.accuracy!)} | ${sign}${Math.abs(delta).toFixed(3)} |`,
    );
    expect(body).toContain('| class | precision | Δ | recall | Δ | F1 | Δ | support |');
    expect(body).toMatch(/^\| circle \| \d\.\d{3} \| [+\-±]\d\.\d{3} \|/m);
    expect(body).toContain(
      '`confusion-matrix.png`, `learning-curves.png` in the artifact folder `artifacts/candidate`',
    );
    const summary = await readFile(env.GITHUB_STEP_SUMMARY, 'utf8');
    expect(summary).toContain(`| metric | candidate (${candV}) | prod (${prodV}) | delta |`);
    expect(body).toContain(summary.trim());

    // A re-run on the new head (another push to the PR) updates the same comment.
    r.git(['fetch', '-q', 'origin']);
    r.git(['checkout', '-q', `origin/${r.branch}`]);
    await rm(join(r.work, 'artifacts', 'candidate'), { recursive: true, force: true });
    const env2 = await actionsEnv(r);
    expect(await run(r, env2)).toBe(0);
    const ids = idsOf(await originLock(r));
    expect(ids.slice(0, 2)).toEqual([prodV, candV]);
    expect(ids).toHaveLength(3);
    const after = gh.comments.get(7) ?? [];
    expect(after).toHaveLength(1);
    expect(after[0]?.id).toBe(comments[0]?.id);
    expect(after[0]?.body).toContain(`| metric | candidate (${ids[2]}) | prod (${prodV}) | delta |`);
    expect(gh.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      'GET /repos/acme/models/issues/7/comments',
      'POST /repos/acme/models/issues/7/comments',
      'GET /repos/acme/models/issues/7/comments',
      `PATCH /repos/acme/models/issues/comments/${comments[0]?.id}`,
    ]);
    expect(gh.requests.every((q) => q.authorization === `token ${TOKEN}`)).toBe(true);
  });

  it('finds its earlier comment on a later page and says when the prod artifact cannot be fetched', async () => {
    const r = await setup();
    for (let i = 0; i < 120; i++) gh.addComment(7, `looks good ${i}`);
    const earlier = gh.addComment(7, `<!-- gitops-ml:train:${MODEL} -->\nold report`, 'github-actions[bot]');
    await rm(join(r.work, 'artifacts', 'prod-v1'), { recursive: true });
    expect(await run(r, await actionsEnv(r))).toBe(0);
    const comments = gh.comments.get(7) ?? [];
    expect(comments).toHaveLength(121);
    const body = comments.find((c) => c.id === earlier.id)?.body ?? '';
    expect(body).toMatch(
      new RegExp(
        `\\| metric \\| candidate \\(v[0-9a-f]{12}\\) \\| prod \\(${prodVersion()}\\) \\| delta \\|`,
      ),
    );
    expect(body).toContain(
      `> Per-class metrics of prod (version ${prodVersion()}) could not be fetched (artifacts/prod-v1:`,
    );
    expect(body).toContain('| class | precision | recall | F1 | support |');
    expect(gh.requests.filter((q) => q.method === 'GET').map((q) => q.query.page ?? '1')).toEqual(['1', '2']);
  });

  it('says "none yet" when nothing is in prod', async () => {
    const r = await setup(emptyLock());
    expect(await run(r, await actionsEnv(r))).toBe(0);
    const body = gh.comments.get(7)?.[0]?.body ?? '';
    expect(body).toContain('no version of `tiny-classifier` is pinned in prod yet (none yet)');
    expect(body).toMatch(/^\| accuracy \| \d\.\d{4} \| none yet \| – \|$/m);
    expect(idsOf(await originLock(r))).toHaveLength(1);
  });

  it('push race on another file: the rejected push is rebased and retried, both commits on origin', async () => {
    const r = await setup();
    const mate = r.clone('mate');
    const attempts: number[] = [];
    const code = await run(r, await actionsEnv(r), {
      push: {
        backoffMs: 1,
        beforePush: async (attempt) => {
          attempts.push(attempt);
          if (attempt !== 1) return;
          await writeFile(join(mate, 'README.md'), '# models\n\nnotes from a teammate\n');
          r.git(['commit', '-q', '-am', 'teammate: notes'], mate);
          r.git(['push', '-q', 'origin', r.branch], mate);
        },
      },
    });
    expect(code).toBe(0);
    expect(attempts).toEqual([1, 2]);
    expect(r.show(r.branch, 'README.md')).toContain('notes from a teammate');
    expect(idsOf(await originLock(r))).toHaveLength(2);
    const subjects = r.git(['log', '--format=%s', '-3', r.branch], r.origin).split('\n');
    expect(subjects[0]).toMatch(/^train: tiny-classifier@v[0-9a-f]{12} candidate/);
    expect(subjects[1]).toBe('teammate: notes');
  });

  it('push race on the lock: a teammate added another candidate meanwhile; the rebase is clean (one new file each) and both are kept', async () => {
    const r = await setup();
    const mate = r.clone('mate');
    // The teammate's candidate: a different (made-up but consistent) artifact entry.
    const digests = { ...prodEntry.digests, 'notes.txt': 'a'.repeat(64) };
    const theirs: LockedVersion = {
      ...prodEntry,
      digests,
      rootDigest: rootDigest(digests),
      artifactUri: 'artifacts/theirs',
    };
    const theirsV = versionIdOf(theirs.rootDigest);
    const retries: string[] = [];
    const code = await run(r, await actionsEnv(r), {
      push: {
        backoffMs: 1,
        beforePush: async (attempt) => {
          if (attempt !== 1) return;
          const mateLock = join(mate, 'models.lock.json');
          const lock = await readLockFrom(fileTree, mateLock);
          await writeLock(mateLock, addCandidate(lock, { model: MODEL, entry: theirs }).lock);
          r.git(['add', '-A', 'models.lock.json', 'models.lock.d'], mate);
          r.git(['commit', '-q', '-m', `train: tiny-classifier@${theirsV} candidate (teammate)`], mate);
          r.git(['push', '-q', 'origin', r.branch], mate);
        },
      },
      log: (l) => retries.push(l),
    });
    expect(code).toBe(0);
    expect(retries.some((l) => l.includes('re-applying'))).toBe(false); // rebased, never re-added
    const lock = await originLock(r);
    const ids = idsOf(lock);
    expect(ids).toHaveLength(3);
    expect(ids).toContain(theirsV);
    const ours = ids.find((id) => id !== theirsV && id !== prodVersion()) as string;
    expect(lock.models[MODEL]?.versions[ours]?.artifactUri).toBe('artifacts/candidate');
    expect(r.git(['log', '-1', '--format=%s', r.branch], r.origin)).toMatch(
      new RegExp(`^train: tiny-classifier@${ours} candidate`),
    );
    expect(gh.comments.get(7)?.[0]?.body).toContain(
      `| metric | candidate (${ours}) | prod (${prodVersion()}) | delta |`,
    );
    expect(r.git(['status', '--porcelain', '--', 'models.lock.json', 'models.lock.d'])).toBe('');
  });
});

describe('regression (issue 11): a tracking URI with user:password was printed raw into PR comments', () => {
  const ROOT = fileURLToPath(new URL('..', import.meta.url));
  const PASSWORD = 's3cr3t-Pa55w0rd';

  needs(mlflowInstalled()).it(
    'https://user:pass@host never reaches the PR comment, the job summary, the lock, nor the stdout/stderr of train:ci',
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

        const comment = gh.comments.get(7)?.[0]?.body ?? '';
        const summary = await readFile(env.GITHUB_STEP_SUMMARY, 'utf8');
        const lock = await originLock(r);
        const id = idsOf(lock).at(-1) ?? '';
        // The index and the new version's file, as committed.
        const lockText = `${r.show(r.branch, 'models.lock.json')}\n${r.show(r.branch, versionFileOf('models.lock.json', MODEL, id))}`;
        // The links are there, to the clean tracking URI: the report lost nothing but the credentials.
        expect(comment).toMatch(
          new RegExp(`\\(${mlflow.uri.replace(/[.]/g, '\\.')}/#/experiments/\\d+/runs/[0-9a-f]+\\)`),
        );
        expect(summary).toContain(`${mlflow.uri}/api/2.0/mlflow-artifacts/artifacts/`);
        const entry = lock.models[MODEL]?.versions[id];
        expect(entry?.mlflow.trackingUri).toBe(mlflow.uri);
        // runMain masks the password first (core.setSecret): the runner consumes these
        // ::add-mask:: commands and replaces the value by *** in all the log, never showing them.
        const lines = out.stdout.split('\n');
        expect(lines.filter((l) => l.startsWith('::add-mask::'))).toContain(`::add-mask::${PASSWORD}`);
        const log = lines.filter((l) => !l.startsWith('::add-mask::')).join('\n');
        for (const [where, text] of [
          ['PR comment', comment],
          ['requests to GitHub', JSON.stringify(gh.requests)],
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
