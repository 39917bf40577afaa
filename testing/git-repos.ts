/**
 * Test helper: real git repositories in a temp folder: a bare `origin`, a
 * working clone with a pull-request branch pushed to it, and more clones on
 * demand (a teammate who pushes meanwhile). Git runs with an isolated HOME
 * and a fixed identity for the helpers' own commits.
 */
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runSync } from '../platform/shell.ts';

export interface TestRepos {
  root: string;
  origin: string;
  /** The working clone, checked out at the PR head. */
  work: string;
  branch: string;
  /** The environment git runs with (isolated HOME, no prompts). */
  env: Record<string, string>;
  /** Run git in `cwd` (default the work clone); returns trimmed stdout. */
  git(args: string[], cwd?: string): string;
  /** A fresh clone of origin checked out at `branch` (default the PR branch). */
  clone(name: string, branch?: string): string;
  /** The content of `path` at origin's `ref`. */
  show(ref: string, path: string): string;
}

const IDENT = ['-c', 'user.name=Teammate', '-c', 'user.email=teammate@example.com'];

/** origin with `main` holding `files`, and `branch` (one commit more) checked out in `work`. */
export async function makeTestRepos(
  files: Record<string, string>,
  branch = 'feature/more-data',
): Promise<TestRepos> {
  const root = await mkdtemp(join(tmpdir(), 'gh-repos-'));
  const home = join(root, 'home');
  await mkdir(home);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
  };
  const git = (args: string[], cwd = join(root, 'work')) => runSync('git', args, { cwd, env }).stdout.trim();
  const origin = join(root, 'origin.git');
  git(['init', '--bare', '-q', '-b', 'main', origin], root);
  const work = join(root, 'work');
  git(['init', '-q', '-b', 'main', work], root);
  const all = { '.gitignore': 'artifacts/\nmlruns-local/\n*.lock.json.lock\n', ...files };
  for (const [p, text] of Object.entries(all)) {
    await mkdir(join(work, p, '..'), { recursive: true });
    await writeFile(join(work, p), text);
  }
  git(['add', '-A']);
  git([...IDENT, 'commit', '-q', '-m', 'initial']);
  git(['remote', 'add', 'origin', origin]);
  git(['push', '-q', 'origin', 'main']);
  git(['checkout', '-q', '-b', branch]);
  await writeFile(join(work, 'data-notes.md'), 'more data\n');
  git(['add', 'data-notes.md']);
  git([...IDENT, 'commit', '-q', '-m', 'add data']);
  git(['push', '-q', 'origin', branch]);
  git(['fetch', '-q', 'origin']);
  return {
    root,
    origin,
    work,
    branch,
    env,
    git,
    clone(name, b = branch) {
      const dir = join(root, name);
      git(['clone', '-q', '-b', b, origin, dir], root);
      git(['config', 'user.name', 'Teammate'], dir);
      git(['config', 'user.email', 'teammate@example.com'], dir);
      return dir;
    },
    show(ref, path) {
      return git(['show', `${ref}:${path}`], origin);
    },
  };
}

/**
 * Copy a checkout's working tree as it is (tracked files and untracked ones
 * git does not ignore; committed or not) into `dest`: the template a test
 * forks, with the changes under test.
 */
export async function copyWorkingTree(checkout: string, dest: string): Promise<void> {
  const files = runSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: checkout,
  })
    .stdout.split('\0')
    .filter(Boolean);
  for (const file of files) {
    await mkdir(dirname(join(dest, file)), { recursive: true });
    await copyFile(join(checkout, file), join(dest, file)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e; // deleted in the working tree, still in the index
    });
  }
}

/**
 * The environment of a GitHub Actions job on a `pull_request` (synchronize)
 * event for PR #7 of acme/models whose head is `r`'s HEAD: the event file
 * and an empty job summary written under `r.root`, GitHub's API at `github`
 * (the local fake), then `overrides`.
 */
export async function pullRequestEnv(
  r: TestRepos,
  github: { url: string; token: string },
  overrides: Record<string, string | undefined> = {},
) {
  const headSha = r.git(['rev-parse', 'HEAD']);
  const eventPath = join(r.root, `event-${headSha.slice(0, 7)}.json`);
  await writeFile(
    eventPath,
    JSON.stringify({
      action: 'synchronize',
      number: 7,
      pull_request: {
        number: 7,
        head: { ref: r.branch, sha: headSha, repo: { full_name: 'acme/models' } },
        base: { ref: 'main', sha: r.git(['rev-parse', 'origin/main']) },
      },
      repository: { name: 'models', owner: { login: 'acme' } },
    }),
  );
  const summary = join(r.root, 'step-summary.md');
  await writeFile(summary, '', { flag: 'a' });
  return {
    ...r.env,
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: 'pull_request',
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: 'acme/models',
    GITHUB_TOKEN: github.token,
    GITHUB_API_URL: github.url,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '4242',
    GITHUB_STEP_SUMMARY: summary,
    ...overrides,
  };
}

/**
 * A git identity for tests (and no system config): its environment, and
 * `git(cwd, ...args)` running as it, which returns stdout trimmed.
 */
export function gitIdentity(name: string, email: string) {
  const env = {
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: email,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: email,
    GIT_CONFIG_NOSYSTEM: '1',
  };
  const git = (cwd: string, ...args: string[]) =>
    runSync('git', args, { cwd, env: { ...process.env, ...env } }).stdout.trim();
  /** Make `origin` a bare repository whose main is one commit ("template") of the files in `tree`. */
  const publish = (tree: string, origin: string): void => {
    git(dirname(origin), 'init', '--quiet', '--bare', '-b', 'main', origin);
    git(tree, 'init', '--quiet', '-b', 'main');
    git(tree, 'add', '-A');
    git(tree, 'commit', '--quiet', '-m', 'template');
    git(tree, 'push', '--quiet', origin, 'main');
  };
  return { env, git, publish };
}
