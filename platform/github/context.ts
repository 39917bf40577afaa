/**
 * The GitHub Actions context of a run, read once at the edge from the
 * environment Actions gives every step, with the semantics of
 * `@actions/github`'s `Context` (GITHUB_EVENT_PATH payload, GITHUB_EVENT_NAME,
 * GITHUB_REPOSITORY "owner/repo", GITHUB_API_URL, GITHUB_SERVER_URL). It is
 * read from an env object passed in, not from `github.context` (which reads
 * process.env once at import), so tests and callers control it.
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/variables
 * @see https://github.com/actions/toolkit/blob/main/packages/github/src/context.ts
 */
import { readFileSync } from 'node:fs';
import { ProjectError } from '../errors.ts';

/** The repository a run belongs to, with what it needs to call the API. */
export interface RepoContext {
  owner: string;
  repo: string;
  /** GITHUB_TOKEN; empty where the caller reads the context without one ({@link ContextOptions}). */
  token: string;
  /** REST base URL, GITHUB_API_URL (default https://api.github.com). */
  apiUrl: string;
  /** Web base URL, GITHUB_SERVER_URL (default https://github.com). */
  serverUrl: string;
  eventName: string;
  /** Link to the workflow run, when GITHUB_RUN_ID is set. */
  runUrl?: string;
  actor?: string;
}

/** The pull request a `pull_request` run is about. */
export interface PullRequestContext extends RepoContext {
  prNumber: number;
  /** The PR branch (pull_request.head.ref): where the lock commit is pushed. */
  headRef: string;
  /** The PR head commit (pull_request.head.sha); GITHUB_SHA is the merge commit. */
  headSha: string;
  baseRef: string;
  /** True when the PR comes from a fork (head.repo.full_name differs): the token cannot push there. */
  fromFork: boolean;
  /** The event's `action` (`opened`, `synchronize`, `labeled`, ...), when the payload has one. */
  action?: string;
  /** The label of a `labeled` event. */
  label?: string;
}

type Env = Record<string, string | undefined>;

/** How a context is read. */
export interface ContextOptions {
  /**
   * Require GITHUB_TOKEN (default true). False for a step that calls neither
   * the API nor git with it: train.yml's train job, which runs the pull
   * request's code and is given no token (SECURITY.md).
   */
  needsToken?: boolean;
}

const HINT =
  'run this inside a GitHub Actions job (it sets GITHUB_REPOSITORY, GITHUB_EVENT_NAME, GITHUB_EVENT_PATH) and pass the job token (github.token) as env GITHUB_TOKEN';

/** The repository part of the context; USAGE naming every missing variable. */
export function readRepoContext(env: Env, options: ContextOptions = {}): RepoContext {
  const missing: string[] = [];
  const full = env.GITHUB_REPOSITORY ?? '';
  const [owner, repo, extra] = full.split('/');
  if (!owner || !repo || extra !== undefined) missing.push('GITHUB_REPOSITORY ("owner/repo")');
  if (!env.GITHUB_TOKEN && options.needsToken !== false) missing.push('GITHUB_TOKEN');
  if (missing.length) {
    throw new ProjectError('USAGE', `missing GitHub context: ${missing.join(', ')}`, {
      subject: missing[0],
      hint: HINT,
      details: { missing },
    });
  }
  const serverUrl = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
  const ctx: RepoContext = {
    owner: owner as string,
    repo: repo as string,
    token: env.GITHUB_TOKEN ?? '',
    apiUrl: (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, ''),
    serverUrl,
    eventName: env.GITHUB_EVENT_NAME ?? '',
  };
  if (env.GITHUB_RUN_ID) ctx.runUrl = `${serverUrl}/${full}/actions/runs/${env.GITHUB_RUN_ID}`;
  if (env.GITHUB_ACTOR) ctx.actor = env.GITHUB_ACTOR;
  return ctx;
}

interface PullRequestPayload {
  action?: unknown;
  label?: { name?: unknown } | null;
  pull_request?: {
    number?: unknown;
    head?: { ref?: unknown; sha?: unknown; repo?: { full_name?: unknown } | null };
    base?: { ref?: unknown };
  };
}

/**
 * The context of a `pull_request` run. Everything missing is named at once
 * (no event payload, another event, no PR number/head in the payload, no
 * repository, no token) as one USAGE error: the caller stops before it
 * trains, commits or writes anything.
 */
export function readPullRequestContext(
  env: Env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  options: ContextOptions = {},
): PullRequestContext {
  const missing: string[] = [];
  if (!env.GITHUB_REPOSITORY) missing.push('GITHUB_REPOSITORY ("owner/repo")');
  if (!env.GITHUB_TOKEN && options.needsToken !== false) missing.push('GITHUB_TOKEN');
  const eventName = env.GITHUB_EVENT_NAME ?? '';
  if (!eventName) missing.push('GITHUB_EVENT_NAME');
  else if (eventName !== 'pull_request' && eventName !== 'pull_request_target') {
    missing.push(`a pull_request event (GITHUB_EVENT_NAME is "${eventName}")`);
  }
  let payload: PullRequestPayload = {};
  const eventPath = env.GITHUB_EVENT_PATH;
  if (!eventPath) missing.push('GITHUB_EVENT_PATH (the event payload file)');
  else {
    try {
      payload = JSON.parse(readFile(eventPath)) as PullRequestPayload;
    } catch (e) {
      missing.push(
        `a readable JSON event payload at GITHUB_EVENT_PATH=${eventPath} (${(e as Error).message})`,
      );
    }
  }
  const pr = payload.pull_request;
  if (eventPath && !missing.some((m) => m.includes(eventPath))) {
    if (typeof pr?.number !== 'number') missing.push(`pull_request.number in ${eventPath}`);
    if (typeof pr?.head?.ref !== 'string' || !pr.head.ref)
      missing.push(`pull_request.head.ref in ${eventPath}`);
    if (typeof pr?.head?.sha !== 'string' || !pr.head.sha)
      missing.push(`pull_request.head.sha in ${eventPath}`);
  }
  if (missing.length) {
    throw new ProjectError('USAGE', `missing GitHub context: ${missing.join(', ')}`, {
      subject: missing[0],
      hint: HINT,
      details: { missing },
    });
  }
  const repoCtx = readRepoContext(env, options);
  const headRepo = pr?.head?.repo?.full_name;
  const ctx: PullRequestContext = {
    ...repoCtx,
    prNumber: pr?.number as number,
    headRef: pr?.head?.ref as string,
    headSha: pr?.head?.sha as string,
    baseRef: typeof pr?.base?.ref === 'string' ? pr.base.ref : '',
    // A deleted fork has head.repo null: still not this repository.
    fromFork: pr?.head?.repo === null || (typeof headRepo === 'string' && headRepo !== env.GITHUB_REPOSITORY),
  };
  if (typeof payload.action === 'string') ctx.action = payload.action;
  if (typeof payload.label?.name === 'string') ctx.label = payload.label.name;
  return ctx;
}
