/**
 * train.yml's two jobs end to end, with real git (a bare origin with
 * refs/pull/7/head as GitHub keeps it, the PR clone the train job runs in,
 * a clone of main the publish job runs in, a teammate who pushes meanwhile),
 * a REAL MLflow server and the FAKE GitHub API (testing/fake-github.ts):
 * `npm run ci:train` trains the pull request's head once, with no token,
 * and hands over the candidate; `npm run ci:publish-candidate`, from main's
 * checkout, takes that handoff as untrusted data, re-checks it with the
 * base branch's check-provenance and only then commits it to the branch.
 */
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect } from '@jest/globals';
import {
  addCandidate,
  emptyLock,
  entryFromArtifact,
  type Lock,
  type LockedVersion,
  lockFiles,
  readLockFrom,
  versionIdOf,
  versionsOldestFirst,
  writeLock,
} from '../lock/index.ts';
import { parseSigningPolicy, verifyModelSignature } from '../model/signing/index.ts';
import { CANDIDATE_FILE, HANDOFF_DIR } from '../pipelines/training/index.ts';
import { gitRunner, treeSource } from '../platform/git/index.ts';
import { fileTree, rootDigest } from '../platform/index.ts';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { makeTestRepos, pullRequestEnv, type TestRepos } from '../testing/git-repos.ts';
import { makeArtifact } from '../testing/lock/fixtures.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../testing/mlflow.ts';
import { needs } from '../testing/services.ts';
import { testKey } from '../testing/signing.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { main } from './publish-candidate.ts';
import { main as trainCi } from './train-ci.ts';

const MODEL = 'tiny-classifier';
const TOKEN = 'ghs_faketoken';
const { describe } = needs(mlflowInstalled());
let mlflow: MlflowServer;
let gh: FakeGithub;
let r: TestRepos;
/** The PR head the train job trained. */
let head = '';
/** The train job's handoff, as download-artifact leaves it (outside any checkout). */
let downloaded = '';
/** main's checkout: the publish job's code. */
let base = '';
let entry: LockedVersion;
let version = '';

const git = (args: string[], cwd = r.work) => r.git(args, cwd);

beforeAll(async () => {
  mlflow = await startMlflow();
  gh = await startFakeGithub({ token: TOKEN, owner: 'acme', repo: 'models', firstNumber: 7 });
  r = await makeTestRepos({ ...lockFiles(emptyLock()), 'README.md': '# models\n' });
  head = git(['rev-parse', 'HEAD']);
  // GitHub keeps every pull request's head at refs/pull/<n>/head, a fork's too.
  git(['update-ref', 'refs/pull/7/head', head], r.origin);
  const configPath = join(r.root, 'tiny.json');
  await writeFile(
    configPath,
    JSON.stringify(tinyTrainingConfig({ name: MODEL, seed: 3, dataPath: join(r.root, 'data') })),
  );
  // The train job: the pull request's code, no GitHub token, the MLflow token.
  const trainEnv = await pullRequestEnv(
    r,
    { url: gh.url, token: TOKEN },
    {
      GITHUB_EVENT_NAME: 'pull_request_target',
      GITHUB_TOKEN: undefined,
      MLFLOW_TRACKING_URI: mlflow.uri,
    },
  );
  const code = await trainCi(['--config', configPath, '--out', 'artifacts/candidate'], {
    env: trainEnv,
    cwd: r.work,
    print: () => {},
    log: () => {},
  });
  expect(code).toBe(0);
  expect(gh.requests).toEqual([]);
  downloaded = join(r.root, 'downloaded');
  await cp(join(r.work, HANDOFF_DIR), downloaded, { recursive: true });
  entry = JSON.parse(await readFile(join(downloaded, CANDIDATE_FILE), 'utf8')).entry;
  version = versionIdOf(entry.rootDigest);
  base = join(r.root, 'base');
  git(['clone', '-q', '-b', 'main', r.origin, base], r.root);
}, 600_000);

afterAll(async () => {
  await mlflow?.close();
  await gh?.close();
  if (r) await rm(r.root, { recursive: true, force: true });
});

beforeEach(() => {
  // Every test starts from the branch as the train job saw it.
  git(['update-ref', `refs/heads/${r.branch}`, head], r.origin);
  git(['update-ref', 'refs/pull/7/head', head], r.origin);
  gh.comments.clear();
  gh.requests.length = 0;
});

/** The publish job's environment: the event of PR #7 at `head`, the job token, the MLflow server. */
const publishEnv = (overrides: Record<string, string | undefined> = {}) =>
  pullRequestEnv(
    r,
    { url: gh.url, token: TOKEN },
    {
      GITHUB_EVENT_NAME: 'pull_request_target',
      MLFLOW_TRACKING_URI: mlflow.uri,
      RUNNER_TEMP: r.root,
      ...overrides,
    },
  );

const publish = async (
  env: Record<string, string | undefined>,
  from = downloaded,
  extra: Parameters<typeof main>[1] = {},
) => {
  const out: string[] = [];
  const code = await main(['--from', from], {
    env,
    cwd: base,
    print: (t) => out.push(t),
    log: (l) => out.push(l),
    ...extra,
  });
  return { code, out: out.join('\n') };
};

/** The lock (index and version files) on origin's PR branch. */
const originLock = () =>
  readLockFrom(treeSource(gitRunner(r.origin, { env: r.env }), r.branch), 'models.lock.json');
const idsOf = (lock: Lock) => versionsOldestFirst(lock.models[MODEL] ?? { versions: {} });
const tip = () => git(['rev-parse', r.branch], r.origin);

/** A copy of the handoff with its entry replaced by `edit(entry)`. */
async function tampered(name: string, edit: (e: LockedVersion) => LockedVersion): Promise<string> {
  const dir = join(r.root, name);
  await cp(downloaded, dir, { recursive: true });
  await writeFile(
    join(dir, CANDIDATE_FILE),
    JSON.stringify({ model: MODEL, entry: edit(structuredClone(entry)) }),
  );
  return dir;
}

describe('npm run ci:publish-candidate (train.yml publish job) after npm run ci:train', () => {
  it('the train job pushed nothing and called no API; the publish job commits the checked entry, comments, and a re-run finds it there', async () => {
    expect(entry.gitCommit).toBe(head);
    expect(entry.mlflow.runId).toMatch(/^[0-9a-f]{32}$/);
    expect(tip()).toBe(head);

    const env = await publishEnv();
    const first = await publish(env);
    expect(first.code).toBe(0);
    expect(idsOf(await originLock())).toEqual([version]);
    // One new file, by the bot, with the trailers.
    expect(git(['show', '--name-only', '--format=', r.branch], r.origin)).toBe(
      `models.lock.d/${MODEL}/${version}.json`,
    );
    const message = git(['log', '-1', '--format=%B', r.branch], r.origin);
    expect(message).toMatch(
      new RegExp(`^train: ${MODEL}@${version} candidate \\(accuracy \\d\\.\\d{4}\\)\\n\\n`),
    );
    expect(message).toContain(
      `Model-Version: ${MODEL}@${version}\nModel-Root-Digest: ${entry.rootDigest}\nPull-Request: #7\nWorkflow-Run: https://github.com/acme/models/actions/runs/4242`,
    );
    expect(git(['log', '-1', '--format=%an <%ae>', r.branch], r.origin)).toBe(
      'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>',
    );
    const pushed = tip();
    expect(git(['rev-parse', `${r.branch}~1`], r.origin)).toBe(head);

    // The comment: the train job's report, then this job's verdict.
    const comments = gh.comments.get(7) ?? [];
    expect(comments).toHaveLength(1);
    const body = comments[0]?.body ?? '';
    expect(body.startsWith(`<!-- gitops-ml:train:${MODEL} -->\n`)).toBe(true);
    expect(body).toContain(`| metric | candidate (${version}) | prod | delta |`);
    expect(body).toContain(
      `\n---\n\nLock: \`${MODEL}\` version ${version} added to \`models.lock.json\` in ${pushed.slice(0, 7)} on \`${r.branch}\`, after the base branch's provenance check (it matches its MLflow run).\n\nWorkflow run: https://github.com/acme/models/actions/runs/4242\n`,
    );
    expect(await readFile(env.GITHUB_STEP_SUMMARY, 'utf8')).toContain(
      `added to \`models.lock.json\` in ${pushed.slice(0, 7)}`,
    );
    // The pull request's files were a worktree of main's checkout, removed afterwards.
    expect(git(['worktree', 'list', '--porcelain'], base).match(/^worktree /gm)).toHaveLength(1);
    expect(git(['status', '--porcelain'], base)).toBe('');

    // A re-run of the job (the same event): the entry is on the branch already.
    const again = await publish(env);
    expect(again.code).toBe(0);
    expect(tip()).toBe(pushed);
    const after = gh.comments.get(7) ?? [];
    expect(after.map((c) => c.id)).toEqual([comments[0]?.id]);
    expect(after[0]?.body).toContain(`Lock: \`${MODEL}\` version ${version} is on \`${r.branch}\` already`);
    expect(gh.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      'GET /repos/acme/models/issues/7/comments',
      'POST /repos/acme/models/issues/7/comments',
      'GET /repos/acme/models/issues/7/comments',
      `PATCH /repos/acme/models/issues/comments/${comments[0]?.id}`,
    ]);
    expect(gh.requests.every((q) => q.authorization === `token ${TOKEN}`)).toBe(true);
  });

  it('refuses an entry that fails the provenance check (tampered accuracy, weights, another commit): nothing pushed, the comment says why, exit 1', async () => {
    const env = await publishEnv();
    const forged = await tampered('forged-accuracy', (e) => ({
      ...e,
      metrics: { ...e.metrics, accuracy: 0.99 },
    }));
    const r1 = await publish(env, forged);
    expect(r1.code).toBe(1);
    expect(tip()).toBe(head);
    const body = gh.comments.get(7)?.[0]?.body ?? '';
    expect(body).toContain(
      `Lock: \`${MODEL}\` version ${version} was **not committed**: the base branch's provenance check refused it.\n\n- model "${MODEL}" version ${version}: metrics.accuracy: is 0.99, but run ${entry.mlflow.runId} logged another test_accuracy\n`,
    );
    // The tracking server's own value stays out of the (public) comment.
    expect(body).not.toContain(`(${entry.metrics.accuracy})`);

    const evil = 'e'.repeat(64);
    const weights = await tampered('forged-weights', (e) => {
      const digests = { ...e.digests, 'weights.bin': evil };
      return { ...e, digests, rootDigest: rootDigest(digests) };
    });
    const r2 = await publish(env, weights);
    expect(r2.code).toBe(1);
    expect(tip()).toBe(head);
    expect(r2.out).toMatch(/: digests\["weights\.bin"\]: .*e{64}/);

    const other = 'b'.repeat(40);
    const elsewhere = await tampered('other-commit', (e) => ({ ...e, gitCommit: other }));
    const r3 = await publish(env, elsewhere);
    expect(r3.code).toBe(1);
    expect(tip()).toBe(head);
    expect(r3.out).toContain(
      `- model "${MODEL}" version ${version}: gitCommit: is ${other}, but this run trained the pull request head ${head}\n- model "${MODEL}" version ${version}: gitCommit: is ${other}, but run ${entry.mlflow.runId} was trained from another commit`,
    );
    expect(idsOf(await originLock())).toEqual([]);
  });

  it("the base branch's artifact origins decide: a pull request that allows local entries in its own copy still cannot add one", async () => {
    // The PR head allows local entries; main's checkout does not (no artifact-origins.json: none).
    const pr = r.clone('lenient');
    await mkdir(join(pr, 'environments'), { recursive: true });
    await writeFile(
      join(pr, 'environments', 'artifact-origins.json'),
      JSON.stringify({ origins: [], allowLocalEntries: true }),
    );
    git(['add', '-A'], pr);
    git(['commit', '-q', '-m', 'allow local entries'], pr);
    git(['push', '-q', 'origin', r.branch], pr);
    const lenient = git(['rev-parse', 'HEAD'], pr);
    git(['update-ref', 'refs/pull/7/head', lenient], r.origin);
    const artifact = join(r.root, 'local-artifact');
    await makeArtifact(artifact, 2);
    const local = await entryFromArtifact(artifact, {
      uri: 'artifacts/local',
      runId: null,
      modelVersion: null,
      trackingUri: null,
      gitCommit: lenient,
    });
    const dir = join(r.root, 'local-handoff');
    await cp(downloaded, dir, { recursive: true });
    await writeFile(join(dir, CANDIDATE_FILE), JSON.stringify({ model: MODEL, entry: local }));
    git(['fetch', '-q', 'origin']);
    git(['checkout', '-q', lenient]);
    try {
      const env = await publishEnv();
      const { code, out } = await publish(env, dir);
      expect(code).toBe(1);
      expect(tip()).toBe(lenient);
      const id = versionIdOf(local.rootDigest);
      expect(out).toContain(
        `- model "${MODEL}" version ${id}: mlflow.runId: is null (a run in the local store): a pull request may add only versions tracked on the MLflow server; train it in CI (train.yml), or allow local entries in environments/artifact-origins.json`,
      );
    } finally {
      git(['checkout', '-q', head]);
    }
  });

  it("a lock file that is a symbolic link in the pull request (to the job's own environment) is refused before it is read", async () => {
    const pr = r.clone('linked');
    await rm(join(pr, 'models.lock.json'));
    await symlink('/proc/self/environ', join(pr, 'models.lock.json'));
    git(['add', '-A'], pr);
    git(['commit', '-q', '-m', 'link the lock'], pr);
    git(['push', '-q', 'origin', r.branch], pr);
    const linked = git(['rev-parse', 'HEAD'], pr);
    git(['update-ref', 'refs/pull/7/head', linked], r.origin);
    git(['fetch', '-q', 'origin']);
    git(['checkout', '-q', linked]);
    try {
      const err = await publish(await publishEnv()).catch((e: unknown) => e);
      expect((err as Error).message.split('\n')[0]).toBe(
        "models.lock.json is a symbolic link in the pull request; the lock's files are plain files",
      );
      expect(tip()).toBe(linked);
      expect(gh.requests).toEqual([]);
      expect(git(['worktree', 'list', '--porcelain'], base).match(/^worktree /gm)).toHaveLength(1);
    } finally {
      git(['checkout', '-q', head]);
    }
  });

  it("a fork's pull request: nothing is pushed, the comment carries the checked entry for its author to add", async () => {
    const event = JSON.parse(await readFile((await publishEnv()).GITHUB_EVENT_PATH, 'utf8'));
    event.pull_request.head.repo = { full_name: 'someone/models' };
    const eventPath = join(r.root, 'event-fork.json');
    await writeFile(eventPath, JSON.stringify(event));
    const { code } = await publish(await publishEnv({ GITHUB_EVENT_PATH: eventPath }));
    expect(code).toBe(0);
    expect(tip()).toBe(head);
    const body = gh.comments.get(7)?.[0]?.body ?? '';
    expect(body).toContain(
      `Lock: not committed (the job cannot push to a fork). The entry matches MLflow run \`${entry.mlflow.runId}\``,
    );
    const json = /```json\n([\s\S]*?)\n```/.exec(body)?.[1] ?? '';
    expect(JSON.parse(json)).toEqual(entry);
  });

  it('push race on another file: the rejected push is rebased and retried, both commits on origin', async () => {
    const mate = r.clone('mate');
    git(['reset', '-q', '--hard', head], mate);
    const attempts: number[] = [];
    const { code } = await publish(await publishEnv(), downloaded, {
      push: {
        backoffMs: 1,
        beforePush: async (attempt) => {
          attempts.push(attempt);
          // The teammate pushes once, before the first attempt; the second attempt goes through.
          if (attempt === 1) {
            await writeFile(join(mate, 'README.md'), '# models\n\nnotes from a teammate\n');
            git(['commit', '-q', '-am', 'teammate: notes'], mate);
            git(['push', '-q', '-f', 'origin', r.branch], mate);
          }
        },
      },
    });
    expect(code).toBe(0);
    expect(attempts).toEqual([1, 2]);
    expect(r.show(r.branch, 'README.md')).toContain('notes from a teammate');
    expect(idsOf(await originLock())).toEqual([version]);
    const subjects = git(['log', '--format=%s', '-2', r.branch], r.origin).split('\n');
    expect(subjects[0]).toMatch(new RegExp(`^train: ${MODEL}@${version} candidate`));
    expect(subjects[1]).toBe('teammate: notes');
  });

  it('push race on the lock: a teammate added another candidate meanwhile; the rebase is clean (one new file each) and both are kept', async () => {
    const mate = r.clone('mate2');
    git(['reset', '-q', '--hard', head], mate);
    const digests = { ...entry.digests, 'notes.txt': 'a'.repeat(64) };
    const theirs: LockedVersion = { ...entry, digests, rootDigest: rootDigest(digests) };
    const theirsV = versionIdOf(theirs.rootDigest);
    const lines: string[] = [];
    const attempts: number[] = [];
    const { code } = await publish(await publishEnv(), downloaded, {
      push: {
        backoffMs: 1,
        beforePush: async (attempt) => {
          attempts.push(attempt);
          // The teammate's candidate lands once, before the first attempt.
          if (attempt === 1) {
            const mateLock = join(mate, 'models.lock.json');
            const lock = await readLockFrom(fileTree, mateLock);
            await writeLock(mateLock, addCandidate(lock, { model: MODEL, entry: theirs }).lock);
            git(['add', '-A', 'models.lock.json', 'models.lock.d'], mate);
            git(['commit', '-q', '-m', `train: ${MODEL}@${theirsV} candidate (teammate)`], mate);
            git(['push', '-q', '-f', 'origin', r.branch], mate);
          }
        },
      },
      log: (l) => lines.push(l),
    });
    expect(code).toBe(0);
    expect(attempts).toEqual([1, 2]);
    expect(lines.some((l) => l.includes('re-applying'))).toBe(false); // rebased, never re-added
    expect(idsOf(await originLock()).sort()).toEqual([theirsV, version].sort());
    expect(git(['log', '-1', '--format=%s', r.branch], r.origin)).toMatch(
      new RegExp(`^train: ${MODEL}@${version} candidate`),
    );
  });

  it('finds its earlier comment on a later page and updates it', async () => {
    for (let i = 0; i < 120; i++) gh.addComment(7, `looks good ${i}`);
    const earlier = gh.addComment(7, `<!-- gitops-ml:train:${MODEL} -->\nold report`, 'github-actions[bot]');
    expect((await publish(await publishEnv())).code).toBe(0);
    const comments = gh.comments.get(7) ?? [];
    expect(comments).toHaveLength(121);
    expect(comments.find((c) => c.id === earlier.id)?.body).toContain(`| metric | candidate (${version}) |`);
    expect(gh.requests.filter((q) => q.method === 'GET').map((q) => q.query.page ?? '1')).toEqual(['1', '2']);
  });

  it("signs the checked entry with the publish job's signer (keyless in train.yml, a key file here); the train job signed nothing", async () => {
    expect(entry.signature).toBeUndefined();
    const key = testKey();
    const keyFile = join(r.root, 'publish-signing-key.pem');
    await writeFile(keyFile, key.privatePem);
    const signed = await publish(await publishEnv({ MODEL_SIGNING_KEY: keyFile }));
    expect(signed.code).toBe(0);
    expect(signed.out).toMatch(new RegExp(`signature: ${MODEL} ${version} signed \\(key [0-9a-f]{12}\\)`));
    const committed = (await originLock()).models[MODEL]?.versions[version];
    const policy = parseSigningPolicy(
      { signingPolicyVersion: 1, signers: [{ name: 'publish job', publicKey: key.publicPem }] },
      'policy',
    );
    await expect(
      verifyModelSignature(
        committed?.signature,
        { model: MODEL, version, rootDigest: entry.rootDigest },
        policy,
      ),
    ).resolves.toMatchObject({ signer: 'publish job' });
  });

  it('without the handoff folder or the GitHub context it stops with exit 2 before git or the API', async () => {
    const env = await publishEnv();
    const usage = await main([], { env, cwd: base, print: () => {} }).catch((e: unknown) => e);
    expect((usage as Error).message.split('\n')[0]).toBe('--from <folder> is required');
    const noToken = await publish({ ...env, GITHUB_TOKEN: undefined }).catch((e: unknown) => e);
    expect((noToken as Error).message.split('\n')[0]).toBe('missing GitHub context: GITHUB_TOKEN');
    const missing = await publish(env, join(r.root, 'nowhere')).catch((e: unknown) => e);
    expect((missing as Error).message.split('\n')[0]).toBe(
      `${join(r.root, 'nowhere', CANDIDATE_FILE)}: no such file; the train job writes it`,
    );
    expect(gh.requests).toEqual([]);
    expect(tip()).toBe(head);
  });
});
