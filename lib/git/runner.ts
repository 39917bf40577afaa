/**
 * The few git operations a promotion needs, through `git` itself
 * (child_process execFile, no shell). Every failure is a ProjectError that
 * names the command and keeps git's own message.
 */
import { execFile } from 'node:child_process';
import { ProjectError } from '../errors.ts';
import { BOT_EMAIL, BOT_NAME, isPushRace } from './publish.ts';

/** Runs git in one working tree; resolves with stdout (trailing whitespace trimmed). */
export type Git = (args: string[]) => Promise<string>;

/** A failed git command: the arguments, exit code and stderr. */
export interface GitFailure {
  args: string[];
  code: number | string | undefined;
  stderr: string;
}

/** A git runner for the working tree at `cwd`, with `env` (default process.env). */
export function gitAt(cwd: string, env: NodeJS.ProcessEnv = process.env): Git {
  return (args) =>
    new Promise((resolvePromise, reject) => {
      execFile(
        'git',
        args,
        { cwd, env: { ...env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (!error) {
            resolvePromise(stdout.trimEnd());
            return;
          }
          const failure: GitFailure = { args, code: error.code ?? undefined, stderr: String(stderr).trim() };
          reject(
            new ProjectError(
              (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID',
              `git ${args.join(' ')} failed in ${cwd}: ${failure.stderr.split('\n').slice(-3).join(' ') || error.message}`,
              { subject: cwd, details: failure, cause: error },
            ),
          );
        },
      );
    });
}

/** True when git refused a push because the remote branch moved (a push race). */
export function isPushRejected(e: unknown): boolean {
  return isPushRace(((e as ProjectError)?.details as GitFailure | undefined)?.stderr ?? '');
}

/** Paths among `paths` with uncommitted changes (staged, unstaged or untracked). */
export async function dirtyPaths(git: Git, paths: string[]): Promise<string[]> {
  const out = await git(['status', '--porcelain', '--untracked-files=all', '--', ...paths]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
}

/** The checked-out branch; INVALID on a detached HEAD (nothing to push to). */
export async function currentBranch(git: Git): Promise<string> {
  const branch = await git(['rev-parse', '--abbrev-ref', 'HEAD']);
  if (branch === 'HEAD') {
    throw new ProjectError(
      'INVALID',
      'the checkout is on a detached HEAD: a promotion commit needs a branch',
      {
        hint: 'check out the branch to promote on (actions/checkout with `ref: main`)',
      },
    );
  }
  return branch;
}

/** The identity of the workflow bot, used when the checkout has none (a fresh Actions runner). */
export const BOT_IDENTITY = { name: BOT_NAME, email: BOT_EMAIL };

/** `-c user.name=... -c user.email=...` when git has no identity configured, else nothing. */
export async function identityArgs(git: Git, env: NodeJS.ProcessEnv): Promise<string[]> {
  if (env.GIT_AUTHOR_EMAIL && env.GIT_COMMITTER_EMAIL) return [];
  const email = await git(['config', 'user.email']).catch(() => '');
  if (email) return [];
  return ['-c', `user.name=${BOT_IDENTITY.name}`, '-c', `user.email=${BOT_IDENTITY.email}`];
}

/** Commit exactly `paths` with `message`; returns the new commit id. */
export async function commitPaths(
  git: Git,
  paths: string[],
  message: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  await git(['add', '--', ...paths]);
  await git([...(await identityArgs(git, env)), 'commit', '--quiet', '-m', message, '--', ...paths]);
  return git(['rev-parse', 'HEAD']);
}
