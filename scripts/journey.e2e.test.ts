// The journey of one model through the template, with real git and real Kustomize
// (issue 5, point 10): a bare "origin" made from this repository, a clone as the fork,
// a branch that changes the training config, training with the environment GitHub
// Actions gives the train job, the candidate in the lock on the branch, a merge,
// promote to dev, render: the dev overlay pins the new version with its digests.
// Then a second candidate that fails a gate is refused and nothing changes.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from '@jest/globals';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { findKustomize, type KustomizeTool, renderAll } from '../gitops/index.ts';
import { readLock, readLockFrom } from '../lock/index.ts';
import { ensureLocalKey, SIGNING_POLICY_PATH, trustPublicKey } from '../model/signing/index.ts';
import { gitRunner, treeSource } from '../platform/git/index.ts';
import { runSync } from '../platform/shell.ts';
import { copyWorkingTree, gitIdentity } from '../testing/git-repos.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { needs, tool } from '../testing/services.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { main as promote } from './promote.ts';
import { main as train } from './train.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { env: GIT_ENV, git, publish } = gitIdentity('Fork Owner', 'fork@example.com');

let base = '';
let origin = '';
let fork = '';
let kustomize: KustomizeTool;
let signingKey = '';
const { it } = needs(tool('git', 'apt-get install git'), kustomizeInstalled());

const tinyConfig = (seed: number) =>
  tinyTrainingConfig({ name: 'demo-classifier', seed, dataPath: join(base, 'data') });

beforeAll(async () => {
  kustomize = await findKustomize();
  base = await mkdtemp(join(tmpdir(), 'journey-'));
  // The template as it is in the working tree (committed or not, never ignored files).
  const template = join(base, 'template');
  await copyWorkingTree(REPO_ROOT, template);
  // The demo's gates ask for 90% accuracy; the tiny config here reaches far less, so
  // this fork starts with a dev gate it can pass (a reviewed change in a real fork).
  const gatesPath = join(template, 'environments/promotion-gates.json');
  const gates = JSON.parse(await readFile(gatesPath, 'utf8'));
  gates.environments.dev.gates.minMetric = { accuracy: 0 };
  await writeFile(gatesPath, `${JSON.stringify(gates, null, 2)}\n`);
  // Nothing unsigned runs: the fork trusts a key of its own (docs/signing.md), with which
  // its train job signs here, where the real one signs keyless.
  const key = await ensureLocalKey(join(base, 'signing-key.pem'));
  await trustPublicKey(join(template, SIGNING_POLICY_PATH), 'fork team key', key.publicKey);
  signingKey = key.path;
  origin = join(base, 'origin.git');
  publish(template, origin);
  fork = join(base, 'fork');
  git(base, 'clone', '--quiet', origin, fork);
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

/** Branch from main, change the config, train as the train job would, commit the candidate, push the branch. */
async function trainOnBranch(
  branch: string,
  seed: number,
  pr: number,
  config = 'tiny.json',
): Promise<{ version: string; rootDigest: string }> {
  git(fork, 'checkout', '--quiet', '-b', branch, 'main');
  const configPath = join(fork, 'training/configs', config);
  await writeFile(configPath, `${JSON.stringify(tinyConfig(seed), null, 2)}\n`);
  git(fork, 'add', configPath);
  git(fork, 'commit', '--quiet', '-m', `train: tiny config, seed ${seed}`);
  const head = git(fork, 'rev-parse', 'HEAD');
  const eventPath = join(base, `event-${pr}.json`);
  await writeFile(
    eventPath,
    JSON.stringify({ pull_request: { number: pr, head: { sha: head, ref: branch } } }),
  );
  const lines: string[] = [];
  const code = await train(
    [
      '--config',
      configPath,
      '--out',
      join(base, 'artifacts', branch),
      '--lock',
      join(fork, 'models.lock.json'),
      '--no-progress',
    ],
    {
      cwd: fork,
      env: {
        GITHUB_ACTIONS: 'true',
        GITHUB_SHA: 'e'.repeat(40), // the PR's merge commit on pull_request events
        GITHUB_HEAD_REF: branch,
        GITHUB_REF_NAME: `${pr}/merge`,
        GITHUB_EVENT_PATH: eventPath,
        GITHUB_REPOSITORY: 'fork-owner/gitops-ml',
        TRACKING_LOCAL_STORE: join(base, 'mlruns-local'),
        MODEL_SIGNING_KEY: signingKey,
      },
      print: (l) => lines.push(l),
    },
  );
  expect(code).toBe(0);
  const version = /^lock version\s+demo-classifier (v[0-9a-f]{12}) \(candidate\)$/m.exec(
    lines.join('\n'),
  )?.[1];
  expect(version).toBeDefined();
  const entry = (await readLock(join(fork, 'models.lock.json'))).models['demo-classifier']!.versions[
    version!
  ]!;
  expect(entry.gitCommit).toBe(head); // the PR head, not the merge commit
  git(fork, 'add', 'models.lock.json', 'models.lock.d');
  git(fork, 'commit', '--quiet', '-m', `lock: demo-classifier candidate ${version}`);
  git(fork, 'push', '--quiet', 'origin', branch);
  git(fork, 'checkout', '--quiet', 'main');
  return { version: version as string, rootDigest: entry.rootDigest };
}

/** Merge the pull request's branch into main as GitHub's merge button does (a merge commit, no custom driver), push. */
function merge(branch: string, pr: number): void {
  git(fork, 'checkout', '--quiet', 'main');
  git(fork, 'pull', '--quiet', '--ff-only', 'origin', 'main');
  git(
    fork,
    'merge',
    '--quiet',
    '--no-ff',
    '-m',
    `Merge pull request #${pr} from ${branch}`,
    `origin/${branch}`,
  );
  git(fork, 'push', '--quiet', 'origin', 'main');
}

/** A pull request that trains a candidate and is merged at once. */
async function candidate(
  branch: string,
  seed: number,
  pr: number,
): Promise<{ version: string; rootDigest: string }> {
  const c = await trainOnBranch(branch, seed, pr);
  merge(branch, pr);
  return c;
}

const actionsEnv = () => ({
  ...GIT_ENV,
  GITHUB_ACTIONS: 'true',
  GITHUB_ACTOR: 'github-actions[bot]',
  GITHUB_REPOSITORY: 'fork-owner/gitops-ml',
  GITHUB_SHA: git(fork, 'rev-parse', 'HEAD'),
});

it('a candidate trained on a branch is merged, promoted to dev and rendered with its digests', async () => {
  const { version, rootDigest } = await candidate('tiny-config', 3, 7);
  const out: string[] = [];
  expect(
    await promote(['--env', 'dev', '--commit', '--push'], {
      cwd: fork,
      env: actionsEnv(),
      print: (t) => out.push(t),
    }),
  ).toBe(0);
  expect(out.join('')).toContain(`pinned demo-classifier dev to version ${version} (was nothing)`);
  expect(git(fork, 'log', '-1', '--format=%s', 'origin/main')).toBe(
    `promote demo-classifier@${version} to dev (gates: 6/6 passed)`,
  );
  const lock = await readLockFrom(treeSource(gitRunner(fork), 'origin/main'), 'models.lock.json');
  const entry = lock.models['demo-classifier']!.versions[version]!;
  expect(lock.models['demo-classifier']!.pins).toEqual({ dev: version });
  expect(lock.models['demo-classifier']!.promotions).toEqual([
    { env: 'dev', from: null, to: version, at: expect.any(String), by: 'github-actions[bot]' },
  ]);

  const report = await renderAll({ root: fork, kustomize, envs: ['dev'] });
  const dev = report.targets.find((t) => t.target.env === 'dev');
  const deployment = dev?.objects.find((o) => o.kind === 'Deployment') as unknown as IDeployment | undefined;
  const template = deployment?.spec?.template;
  expect(template?.metadata?.annotations).toMatchObject({
    'ml.gitops/model-name': 'demo-classifier',
    'ml.gitops/model-version': version,
    'ml.gitops/model-sha256': rootDigest,
  });
  const env = Object.fromEntries((template?.spec?.containers?.[0]?.env ?? []).map((e) => [e.name, e.value]));
  expect(env).toMatchObject({
    SERVING_MODEL_NAME: 'demo-classifier',
    SERVING_MODEL_VERSION: version,
    SERVING_MODEL_URI: entry.artifactUri,
    SERVING_MODEL_SHA256: rootDigest,
    SERVING_MODEL_DIGESTS: JSON.stringify(entry.digests),
  });
});

it('a second candidate that fails a gate is refused: lock, pin file, HEAD and origin unchanged', async () => {
  // A reviewed change raises the dev gate; the next candidate cannot pass it.
  const gatesPath = join(fork, 'environments/promotion-gates.json');
  const gates = JSON.parse(await readFile(gatesPath, 'utf8'));
  gates.environments.dev.gates.minMetric = { accuracy: 0.99 };
  await writeFile(gatesPath, `${JSON.stringify(gates, null, 2)}\n`);
  git(fork, 'commit', '--quiet', '-am', 'gates: dev needs 99% accuracy');
  git(fork, 'push', '--quiet', 'origin', 'main');
  const { version } = await candidate('tiny-config-2', 4, 8);

  const head = git(fork, 'rev-parse', 'HEAD');
  const lockBytes = await readFile(join(fork, 'models.lock.json'));
  const pinBytes = await readFile(join(fork, 'environments/dev/model-pin.yaml'));
  const err = await promote(['--env', 'dev', '--commit', '--push'], {
    cwd: fork,
    env: actionsEnv(),
    print: () => {},
  }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'GATE_FAILED' });
  expect((err as Error).message).toContain(
    `promotion of demo-classifier version ${version} to dev refused: 1 of 6 gate(s) failed:`,
  );
  expect((err as Error).message).toMatch(/ {2}- minMetric accuracy: expected >= 0\.99, got 0?\.?\d*/);
  expect(git(fork, 'rev-parse', 'HEAD')).toBe(head);
  expect(git(fork, 'rev-parse', 'origin/main')).toBe(head);
  expect(git(origin, 'rev-parse', 'main')).toBe(head);
  expect(git(fork, 'status', '--porcelain', '--untracked-files=no')).toBe('');
  expect(await readFile(join(fork, 'models.lock.json'))).toEqual(lockBytes);
  expect(await readFile(join(fork, 'environments/dev/model-pin.yaml'))).toEqual(pinBytes);
});

it('two pull requests from one main each add a candidate: both merge cleanly, in either order, and dev gets the newest', async () => {
  // A reviewed change puts the dev gate back where the tiny config passes it.
  const gatesPath = join(fork, 'environments/promotion-gates.json');
  const gates = JSON.parse(await readFile(gatesPath, 'utf8'));
  gates.environments.dev.gates.minMetric = { accuracy: 0 };
  await writeFile(gatesPath, `${JSON.stringify(gates, null, 2)}\n`);
  if (git(fork, 'status', '--porcelain')) {
    git(fork, 'commit', '--quiet', '-am', 'gates: dev back to no minimum');
    git(fork, 'push', '--quiet', 'origin', 'main');
  }
  const start = git(fork, 'rev-parse', 'main');

  // Both branches start from the same main and train without knowing of each other.
  // (each changes its own config: two teams' experiments, not one file edited twice)
  const a = await trainOnBranch('parallel-a', 5, 21, 'tiny-a.json');
  const b = await trainOnBranch('parallel-b', 6, 22, 'tiny-b.json'); // trained second: the newer candidate
  expect(a.version).not.toBe(b.version);
  expect(git(fork, 'merge-base', 'origin/parallel-a', 'origin/parallel-b')).toBe(start);

  // B is merged first and promoted; then A merges without a conflict.
  merge('parallel-b', 22);
  const out: string[] = [];
  const promoteDev = () =>
    promote(['--env', 'dev', '--commit', '--push'], {
      cwd: fork,
      env: actionsEnv(),
      print: (t) => out.push(t),
    });
  expect(await promoteDev()).toBe(0);
  merge('parallel-a', 21); // git merge exits non-zero on a conflict, and runSync throws
  expect(git(fork, 'status', '--porcelain')).toBe('');
  const lock = await readLock(join(fork, 'models.lock.json'));
  const versions = lock.models['demo-classifier']!.versions;
  expect(versions[a.version]?.rootDigest).toBe(a.rootDigest);
  expect(versions[b.version]?.rootDigest).toBe(b.rootDigest);

  // Promotion after both merges picks the candidate trained last (createdAt), whatever the merge order.
  out.length = 0;
  expect(await promoteDev()).toBe(0);
  expect(out.join('')).toContain(`dev already runs demo-classifier version ${b.version}: nothing changed`);
  expect(lock.models['demo-classifier']!.pins.dev).toBe(b.version);

  // The other merge order gives the very same versions: the lock's content alone decides.
  const other = join(base, 'other-order');
  git(base, 'clone', '--quiet', '--branch', 'main', origin, other);
  git(other, 'reset', '--quiet', '--hard', start);
  git(other, 'merge', '--quiet', '--no-ff', '-m', 'merge a', 'origin/parallel-a');
  git(other, 'merge', '--quiet', '--no-ff', '-m', 'merge b', 'origin/parallel-b');
  expect(git(other, 'rev-parse', 'HEAD:models.lock.d')).toBe(git(fork, 'rev-parse', 'HEAD:models.lock.d'));

  // A true conflict is still refused: two branches that move the same pin to different versions.
  git(other, 'checkout', '--quiet', '-b', 'pin-a');
  expect(
    await promote(['--env', 'dev', '--version', a.version, '--commit', '--no-render'], {
      cwd: other,
      env: actionsEnv(),
      print: () => {},
    }),
  ).toBe(0);
  git(other, 'checkout', '--quiet', '-b', 'pin-b', 'HEAD~1');
  expect(
    await promote(['--env', 'dev', '--version', b.version, '--commit', '--no-render'], {
      cwd: other,
      env: actionsEnv(),
      print: () => {},
    }),
  ).toBe(0);
  const conflict = runSync('git', ['merge', '--no-ff', '-m', 'both pins', 'pin-a'], {
    cwd: other,
    env: { ...process.env, ...GIT_ENV },
    nothrow: true,
  });
  expect(conflict.code).not.toBe(0);
  expect(conflict.stdout).toMatch(/CONFLICT \(content\): Merge conflict in models\.lock\.json/);
});
