/**
 * Commit files and push them to a branch, surviving push races: when the
 * remote branch moved (someone pushed meanwhile), fetch, rebase onto it and
 * push again (up to `maxAttempts`, with exponential backoff); when the
 * rebase conflicts, or leaves a file its validator refuses (two candidates
 * added at once to models.lock.json), abort, reset to the remote branch and
 * re-apply the change on top of it (`reapply`), so that neither side's
 * change is lost. Runs `git` itself (execFile, no shell).
 */
import { execFile } from 'node:child_process';
import { ProjectError } from '../errors.ts';

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git in one working tree. `run` throws on a non-zero exit; `tryRun` resolves with the result. */
export interface GitRunner {
  cwd: string;
  run(args: string[]): Promise<string>;
  tryRun(args: string[]): Promise<GitResult>;
}

/** The commit identity used when the checkout has none (as actions/checkout users set it). */
export const BOT_NAME = 'github-actions[bot]';
export const BOT_EMAIL = '41898282+github-actions[bot]@users.noreply.github.com';

export interface GitRunnerOptions {
  env?: Record<string, string | undefined>;
  /**
   * A token for HTTPS pushes and fetches to `serverUrl` (as actions/checkout
   * does: an `http.<url>.extraheader`), passed through GIT_CONFIG_* env
   * variables so it appears in no argument list and is never persisted.
   */
  token?: string;
  serverUrl?: string;
}

/** A git runner for the working tree at `cwd`. */
export function gitRunner(cwd: string, options: GitRunnerOptions = {}): GitRunner {
  const env: Record<string, string | undefined> = {
    ...(options.env ?? process.env),
    GIT_TERMINAL_PROMPT: '0',
  };
  if (options.token && options.serverUrl?.startsWith('https://')) {
    const basic = Buffer.from(`x-access-token:${options.token}`).toString('base64');
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${options.serverUrl.replace(/\/+$/, '')}/.extraheader`;
    env.GIT_CONFIG_VALUE_0 = `AUTHORIZATION: basic ${basic}`;
  }
  const tryRun = (args: string[]) =>
    new Promise<GitResult>((resolve, reject) => {
      execFile(
        'git',
        args,
        { cwd, env: env as NodeJS.ProcessEnv, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error && (error as NodeJS.ErrnoException).code === 'ENOENT' && typeof error.code === 'string') {
            reject(new ProjectError('NOT_FOUND', 'git is not installed (not on PATH)', { subject: 'git' }));
            return;
          }
          resolve({
            code: error ? Number(error.code ?? 1) : 0,
            stdout: String(stdout),
            stderr: String(stderr),
          });
        },
      );
    });
  return {
    cwd,
    tryRun,
    async run(args) {
      const r = await tryRun(args);
      if (r.code !== 0) {
        throw new ProjectError(
          'INVALID',
          `git ${args.join(' ')} failed in ${cwd}: ${r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.code}`}`,
          { subject: cwd, details: { args, ...r } },
        );
      }
      return r.stdout.trim();
    },
  };
}

/** True when git refused a push because the remote branch moved. */
export function isPushRace(stderr: string): boolean {
  return /\[rejected\]|non-fast-forward|fetch first|\[remote rejected\].*(cannot lock ref|failed to update ref)|stale info/i.test(
    stderr,
  );
}

/** `-c user.name/-c user.email` for the bot when the checkout has no identity. */
export async function identityArgs(git: GitRunner): Promise<string[]> {
  const email = await git.tryRun(['config', 'user.email']);
  if (email.code === 0 && email.stdout.trim()) return [];
  return ['-c', `user.name=${BOT_NAME}`, '-c', `user.email=${BOT_EMAIL}`];
}

export interface PublishOptions {
  git: GitRunner;
  /** Remote name (default origin). */
  remote?: string;
  /** Branch on the remote to push to (the PR branch). */
  branch: string;
  /** Files to commit (paths relative to the working tree). */
  paths: string[];
  message: string;
  /**
   * Re-make the change on the remote branch's files (called after
   * `git reset --hard <remote>/<branch>`); returns the commit message for it,
   * or undefined when the change is there already (nothing to commit).
   */
  reapply: () => Promise<string | undefined>;
  /** Checks the committed files after a clean rebase (e.g. the lock parses and validates); throw to re-apply instead. */
  validate?: () => Promise<void>;
  /** Push attempts in all (default 5). */
  maxAttempts?: number;
  /** First backoff in ms, doubled each retry (default 500). */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Test hook: runs before each push (a concurrent push is injected here). */
  beforePush?: (attempt: number) => Promise<void>;
  log?: (line: string) => void;
}

export interface PublishResult {
  commit: string;
  attempts: number;
  /** How the retries resolved: one entry per rejected push. */
  retries: ('rebased' | 'reapplied')[];
  /** The message of the commit that was pushed (it changes when the change was re-applied). */
  message: string;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Commit `paths` on HEAD and push to `<remote>/<branch>`, rebasing or re-applying on a push race. */
export async function commitAndPush(options: PublishOptions): Promise<PublishResult> {
  const { git, branch, paths } = options;
  const remote = options.remote ?? 'origin';
  const upstream = `refs/remotes/${remote}/${branch}`;
  const maxAttempts = options.maxAttempts ?? 5;
  const backoff = options.backoffMs ?? 500;
  const sleep = options.sleep ?? defaultSleep;
  const log = options.log ?? ((l: string) => console.error(l));
  const ident = await identityArgs(git);
  let message = options.message;
  const commit = async (msg: string) => {
    await git.run(['add', '--', ...paths]);
    await git.run([...ident, 'commit', '--no-verify', '-m', msg, '--', ...paths]);
  };
  await commit(message);
  const retries: PublishResult['retries'] = [];
  for (let attempt = 1; ; attempt++) {
    await options.beforePush?.(attempt);
    const push = await git.tryRun(['push', '--porcelain', remote, `HEAD:refs/heads/${branch}`]);
    if (push.code === 0) {
      return { commit: await git.run(['rev-parse', 'HEAD']), attempts: attempt, retries, message };
    }
    const stderr = `${push.stderr}\n${push.stdout}`;
    if (!isPushRace(stderr)) {
      throw new ProjectError(
        'UNAVAILABLE',
        `git push ${remote} HEAD:${branch} failed: ${stderr.trim().split('\n').slice(-3).join(' ')}`,
        {
          subject: `${remote}/${branch}`,
          hint: 'check that the job may push (permissions: contents: write) and that the branch exists',
          details: push,
        },
      );
    }
    if (attempt >= maxAttempts) {
      throw new ProjectError(
        'CONFLICT',
        `git push to ${remote}/${branch} was rejected ${attempt} times (the branch keeps moving); the commit is left local`,
        { subject: `${remote}/${branch}`, hint: 're-run the job' },
      );
    }
    const wait = backoff * 2 ** (attempt - 1);
    log(`push to ${remote}/${branch} rejected (the branch moved): rebasing and retrying in ${wait} ms`);
    await sleep(wait);
    await git.run(['fetch', '--no-tags', remote, `+refs/heads/${branch}:${upstream}`]);
    const rebase = await git.tryRun([...ident, 'rebase', upstream]);
    let clean = rebase.code === 0;
    if (clean && options.validate) {
      try {
        await options.validate();
      } catch (e) {
        log(`after the rebase: ${(e as Error).message.split('\n')[0]}; re-applying instead`);
        clean = false;
      }
    }
    if (clean) {
      retries.push('rebased');
      continue;
    }
    if (rebase.code !== 0) {
      log(`rebase onto ${remote}/${branch} conflicted: resetting to it and re-applying the change`);
      await git.tryRun(['rebase', '--abort']);
    }
    await git.run(['reset', '--hard', upstream]);
    const next = await options.reapply();
    retries.push('reapplied');
    if (next === undefined) {
      log(`the change is on ${remote}/${branch} already: nothing to push`);
      return { commit: await git.run(['rev-parse', 'HEAD']), attempts: attempt, retries, message };
    }
    message = next;
    await commit(message);
  }
}
