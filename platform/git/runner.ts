/**
 * The one git runner: `git` itself through platform/shell.ts (zx's `$`: quoted
 * arguments, no hand-built command line), in one working tree, never
 * prompting. Every failure is a ProjectError that names the command and keeps
 * git's own message. Promotion, training for a pull request and retraining
 * all use it (with platform/git/publish.ts for pushes that survive push races).
 */
import { ProjectError } from '../errors.ts';
import { redactText } from '../redact.ts';
import { type RunResult, run, tailOf } from '../shell.ts';

export type GitResult = RunResult;

/** Runs git in one working tree. `run` throws on a non-zero exit and returns trimmed stdout; `tryRun` resolves with the result. */
export interface GitRunner {
  cwd: string;
  run(args: string[]): Promise<string>;
  tryRun(args: string[]): Promise<GitResult>;
}

/** The commit identity used when the checkout has none (as actions/checkout users set it). */
export const BOT_NAME = 'github-actions[bot]';
export const BOT_EMAIL = '41898282+github-actions[bot]@users.noreply.github.com';

export interface GitRunnerOptions {
  /** The environment git runs with (default: this process's). */
  env?: Record<string, string | undefined>;
  /**
   * A token for HTTPS pushes and fetches to `serverUrl` (as actions/checkout
   * does: an `http.<url>.extraheader`), passed through GIT_CONFIG_* env
   * variables so it appears in no argument list and is never persisted.
   */
  token?: string;
  serverUrl?: string;
  /** Per-command timeout in ms (default 5 minutes). */
  timeoutMs?: number;
}

/** A git runner for the working tree at `cwd`. */
export function gitRunner(cwd: string, options: GitRunnerOptions = {}): GitRunner {
  const env: Record<string, string | undefined> = {
    ...(options.env ?? process.env),
    GIT_TERMINAL_PROMPT: '0',
  };
  const secrets: string[] = [];
  if (options.token && options.serverUrl?.startsWith('https://')) {
    const basic = Buffer.from(`x-access-token:${options.token}`).toString('base64');
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${options.serverUrl.replace(/\/+$/, '')}/.extraheader`;
    env.GIT_CONFIG_VALUE_0 = `AUTHORIZATION: basic ${basic}`;
    secrets.push(options.token, basic);
  }
  const tryRun = (args: string[]) =>
    run('git', args, { cwd, env, nothrow: true, secrets, timeoutMs: options.timeoutMs ?? 300_000 });
  return {
    cwd,
    tryRun,
    async run(args) {
      const r = await tryRun(args);
      if (r.code !== 0) {
        throw new ProjectError(
          'INVALID',
          redactText(
            `git ${args.join(' ')} failed in ${cwd}: ${tailOf(r.stderr) || `exit ${r.code}`}`,
            secrets,
          ),
          {
            subject: cwd,
            details: { args, code: r.code, stdout: r.stdout, stderr: redactText(r.stderr, secrets) },
          },
        );
      }
      return r.stdout.trim();
    },
  };
}

/**
 * The credentials a step passes in its environment, as {@link gitRunner}
 * takes them: GITHUB_TOKEN for GITHUB_SERVER_URL (both set in a GitHub
 * Actions step; GITHUB_SERVER_URL alone is set by Actions itself). The
 * promotion jobs push with the promotion App's token this way: their
 * checkout does not persist credentials, so the token is never in
 * .git/config, where anything that ran before (npm ci's install scripts)
 * could read it. Empty without both.
 */
export function tokenFromEnv(
  env: Record<string, string | undefined>,
): Pick<GitRunnerOptions, 'token' | 'serverUrl'> {
  return env.GITHUB_TOKEN && env.GITHUB_SERVER_URL
    ? { token: env.GITHUB_TOKEN, serverUrl: env.GITHUB_SERVER_URL }
    : {};
}

/**
 * True when the server refused a push by a rule of the branch: GitHub's
 * branch protection (GH006) or a ruleset (GH013), such as required reviews
 * on main.
 */
export function isProtectedBranchRefusal(stderr: string): boolean {
  return /\bGH006\b|\bGH013\b|protected branch|rule violations/i.test(stderr);
}

/** True when git refused a push because the remote branch moved. */
export function isPushRace(stderr: string): boolean {
  return /\[rejected\]|non-fast-forward|fetch first|\[remote rejected\].*(cannot lock ref|failed to update ref)|stale info/i.test(
    stderr,
  );
}

/** `-c user.name/-c user.email` for the bot when the checkout (or the environment) has no identity. */
export async function identityArgs(
  git: GitRunner,
  env: Record<string, string | undefined> = {},
): Promise<string[]> {
  if (env.GIT_AUTHOR_EMAIL && env.GIT_COMMITTER_EMAIL) return [];
  const email = await git.tryRun(['config', 'user.email']);
  if (email.code === 0 && email.stdout.trim()) return [];
  return ['-c', `user.name=${BOT_NAME}`, '-c', `user.email=${BOT_EMAIL}`];
}

/** Paths among `paths` with uncommitted changes (staged, unstaged or untracked). */
export async function dirtyPaths(git: GitRunner, paths: string[]): Promise<string[]> {
  const args = ['status', '--porcelain', '--untracked-files=all', '--', ...paths];
  const r = await git.tryRun(args);
  if (r.code !== 0) await git.run(args); // throws with git's message
  // Porcelain lines are "XY path": keep the leading space of an unstaged change.
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
}

/** The checked-out branch; INVALID on a detached HEAD (nothing to push to). */
export async function currentBranch(git: GitRunner): Promise<string> {
  const branch = await git.run(['rev-parse', '--abbrev-ref', 'HEAD']);
  if (branch === 'HEAD') {
    throw new ProjectError('INVALID', 'the checkout is on a detached HEAD: a commit to push needs a branch', {
      hint: 'check out the branch to work on (actions/checkout with `ref: main`)',
    });
  }
  return branch;
}

/** Commit exactly `paths` with `message` (the bot identity when there is none); returns the new commit id. */
export async function commitPaths(
  git: GitRunner,
  paths: string[],
  message: string,
  env: Record<string, string | undefined> = {},
): Promise<string> {
  await git.run(['add', '--', ...paths]);
  await git.run([
    ...(await identityArgs(git, env)),
    'commit',
    '--quiet',
    '--no-verify',
    '-m',
    message,
    '--',
    ...paths,
  ]);
  return git.run(['rev-parse', 'HEAD']);
}
