/**
 * Commit files and push them to a branch, surviving push races: when the
 * remote branch moved (someone pushed meanwhile), fetch, rebase onto it and
 * push again (up to `maxAttempts`, with exponential backoff); when the
 * rebase conflicts, or leaves a state its validator refuses (two candidates
 * added at once to models.lock.json, a promotion whose gates no longer pass),
 * abort, reset to the remote branch and re-apply the change on top of it
 * (`reapply`), so that neither side's change is lost.
 */

import { sleep as realSleep } from '../clock.ts';
import { ProjectError } from '../errors.ts';
import { tailOf } from '../shell.ts';
import { commitPaths, type GitRunner, identityArgs, isProtectedBranchRefusal, isPushRace } from './runner.ts';

export interface PublishOptions {
  git: GitRunner;
  /** Remote name (default origin). */
  remote?: string;
  /** Branch on the remote to push to (the PR branch). */
  branch: string;
  /** Files to commit (paths relative to the working tree). */
  paths: string[];
  message: string;
  /** The commit is made already (HEAD holds exactly the change): push it as it is. */
  committed?: boolean;
  /** The environment the commits are made with (GIT_AUTHOR_* decide the identity). */
  env?: Record<string, string | undefined>;
  /**
   * Re-make the change on the remote branch's files (called after
   * `git reset --hard <remote>/<branch>`); returns the commit message for it,
   * or undefined when the change is there already (nothing to commit).
   */
  reapply: () => Promise<string | undefined>;
  /** Checks the committed files after a clean rebase (e.g. the lock parses and validates); throw to re-apply instead. */
  validate?: () => Promise<void>;
  /**
   * On a push race, skip the rebase and re-apply the change on the moved
   * branch at once: for generated files (a promotion's lock and pin), where a
   * textual merge means nothing.
   */
  regenerate?: boolean;
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

/** One publication: where it pushes and how it commits, resolved once. */
interface Publication {
  options: PublishOptions;
  git: GitRunner;
  remote: string;
  branch: string;
  /** `refs/remotes/<remote>/<branch>`. */
  upstream: string;
  /** The identity flags of git commands that commit (rebase). */
  ident: string[];
  log: (line: string) => void;
}

/** How a push race was resolved: rebased onto the moved branch, or the change re-applied on it (its new message; undefined: it was there already). */
type CaughtUp = { kind: 'rebased' } | { kind: 'reapplied'; message: string | undefined };

/** Commit `paths` on HEAD and push to `<remote>/<branch>`, rebasing or re-applying on a push race. */
export async function commitAndPush(options: PublishOptions): Promise<PublishResult> {
  const { git, branch, paths } = options;
  const remote = options.remote ?? 'origin';
  const maxAttempts = options.maxAttempts ?? 5;
  const backoff = options.backoffMs ?? 500;
  const sleep = options.sleep ?? realSleep;
  const log = options.log ?? ((l: string) => console.error(l));
  const p: Publication = {
    options,
    git,
    remote,
    branch,
    upstream: `refs/remotes/${remote}/${branch}`,
    ident: await identityArgs(git, options.env),
    log,
  };
  let message = options.message;
  const commit = (msg: string) => commitPaths(git, paths, msg, options.env);
  if (!options.committed) await commit(message);
  const retries: PublishResult['retries'] = [];
  for (let attempt = 1; ; attempt++) {
    await options.beforePush?.(attempt);
    const push = await git.tryRun(['push', '--porcelain', remote, `HEAD:refs/heads/${branch}`]);
    if (push.code === 0) {
      return { commit: await git.run(['rev-parse', 'HEAD']), attempts: attempt, retries, message };
    }
    refuseUnlessRace(p, push, attempt, maxAttempts);
    const wait = backoff * 2 ** (attempt - 1);
    log(`push to ${remote}/${branch} rejected (the branch moved): retrying on top of it in ${wait} ms`);
    await sleep(wait);
    await git.run(['fetch', '--no-tags', remote, `+refs/heads/${branch}:${p.upstream}`]);
    const caught = await catchUp(p);
    retries.push(caught.kind);
    if (caught.kind === 'rebased') continue;
    if (caught.message === undefined) {
      log(`the change is on ${remote}/${branch} already: nothing to push`);
      return { commit: await git.run(['rev-parse', 'HEAD']), attempts: attempt, retries, message };
    }
    message = caught.message;
    await commit(message);
  }
}

/** A rejected push that is not a race (UNAVAILABLE), or the last attempt of one (CONFLICT), throws. */
function refuseUnlessRace(
  p: Publication,
  push: { code: number; stdout: string; stderr: string },
  attempt: number,
  maxAttempts: number,
): void {
  const { remote, branch } = p;
  const stderr = `${push.stderr}\n${push.stdout}`;
  if (!isPushRace(stderr)) {
    // The server's own reason first (GitHub's "GH006: Protected branch update failed ..."), else the tail.
    const reason = stderr.split('\n').find(isProtectedBranchRefusal)?.trim() ?? tailOf(stderr);
    throw new ProjectError('UNAVAILABLE', `git push ${remote} HEAD:${branch} failed: ${reason}`, {
      subject: `${remote}/${branch}`,
      hint: isProtectedBranchRefusal(stderr)
        ? `${branch} is protected (required reviews: a ruleset or branch protection); promotions push with the promotion App's token, which its bypass list names: pass it as GITHUB_TOKEN (README "The write path")`
        : 'check that the job may push (permissions: contents: write) and that the branch exists',
      details: push,
    });
  }
  if (attempt >= maxAttempts) {
    throw new ProjectError(
      'CONFLICT',
      `git push to ${remote}/${branch} was rejected ${attempt} times (the branch keeps moving); the commit is left local`,
      { subject: `${remote}/${branch}`, hint: 're-run the job' },
    );
  }
}

/**
 * Put the change on top of the fetched remote branch: rebase it (unless
 * `regenerate`), and keep the result when it is clean and validates; else
 * reset to the remote branch and re-apply the change. Only a checkout whose
 * one local commit is this change may be reset: other local commits are
 * never thrown away (a conflict then stops, leaving them as they were).
 */
async function catchUp(p: Publication): Promise<CaughtUp> {
  const { git, remote, branch, upstream, options, log } = p;
  const ahead = Number(await git.run(['rev-list', '--count', `${upstream}..HEAD`]));
  const resettable = ahead <= 1;
  const rebase =
    options.regenerate && resettable
      ? { code: 1, stdout: '', stderr: 'regenerate' }
      : await git.tryRun([...p.ident, 'rebase', upstream]);
  let clean = rebase.code === 0;
  if (clean && options.validate) {
    try {
      await options.validate();
    } catch (e) {
      log(`after the rebase: ${(e as Error).message.split('\n')[0]}; re-applying instead`);
      clean = false;
    }
  }
  if (clean) return { kind: 'rebased' };
  if (rebase.code !== 0 && rebase.stderr !== 'regenerate') {
    log(`rebase onto ${remote}/${branch} conflicted: resetting to it and re-applying the change`);
    await git.tryRun(['rebase', '--abort']);
  }
  if (!resettable) {
    throw new ProjectError(
      'CONFLICT',
      `the change does not apply on top of ${remote}/${branch}, and the checkout holds ${ahead} local commits (more than this change): nothing was pushed or reset`,
      {
        subject: `${remote}/${branch}`,
        hint: `pull ${remote} ${branch} (resolve the conflict), then run it again`,
      },
    );
  }
  await git.run(['reset', '--hard', upstream]);
  return { kind: 'reapplied', message: await options.reapply() };
}
