/**
 * The GitHub REST calls this project makes, through `@actions/github`'s
 * octokit (`getOctokit(token, { baseUrl }, ...plugins)`, baseUrl from
 * GITHUB_API_URL so that GitHub Enterprise, and the fake server in tests,
 * are reached the same way), with Octokit's retry and throttling plugins: a
 * 5xx or a dropped connection is retried with growing waits, and a rate
 * limit waits as GitHub asks (Retry-After) and then retries once, as GitHub's
 * best practices for the REST API say. Every failure left is a ProjectError
 * naming the call and the URL.
 * @see https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
 * @see https://github.com/octokit/plugin-retry.js
 * @see https://github.com/octokit/plugin-throttling.js
 * @see https://docs.github.com/en/rest/issues/comments
 * @see https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request
 * @see https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event
 */
import { getOctokit } from '@actions/github';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { ProjectError } from '../errors.ts';

export type Octokit = ReturnType<typeof getOctokit>;

/** Where and as whom to call the API. */
export interface GithubApi {
  token: string;
  /** GITHUB_API_URL, e.g. https://api.github.com. */
  apiUrl: string;
  owner: string;
  repo: string;
}

/** How the client retries (tests shorten the waits). */
export interface GithubRetry {
  /** Retries of a call that failed with a 5xx or no answer (default 3). */
  retries?: number;
  /** The wait before retry n is base × n² ms for a 5xx, Retry-After × base ms for a rate limit (default 1000). */
  baseMs?: number;
}

/** An octokit for `api` that retries server errors and waits out rate limits. */
export function octokitFor(api: GithubApi, retrying: GithubRetry = {}): Octokit {
  const baseMs = retrying.baseMs ?? 1000;
  /** Retry once after a (secondary) rate limit, after the wait GitHub asked for. */
  const onLimit = (_retryAfter: number, _options: unknown, _octokit: unknown, retryCount: number) =>
    retryCount < 1;
  return getOctokit(
    api.token,
    {
      baseUrl: api.apiUrl,
      userAgent: 'gitops-ml-template',
      retry: { retries: retrying.retries ?? 3, retryAfterBaseValue: baseMs },
      throttle: { onRateLimit: onLimit, onSecondaryRateLimit: onLimit, retryAfterBaseValue: baseMs },
    },
    retry,
    throttling,
  );
}

/** Re-throw an octokit RequestError as UNAVAILABLE/INVALID naming the call, status and GitHub's message. */
export function apiError(what: string, api: GithubApi, e: unknown): ProjectError {
  const err = e as { status?: number; message?: string; request?: { url?: string } };
  const status = err.status;
  const url = err.request?.url ?? api.apiUrl;
  const hint =
    status === 401 || status === 403
      ? "check the token and the job's permissions (pull-requests: write, contents: write); a pull request from a fork gets a read-only token"
      : status === 404
        ? `check GITHUB_REPOSITORY (${api.owner}/${api.repo}) and GITHUB_API_URL`
        : 'retry the job';
  return new ProjectError(
    status && status < 500 ? 'INVALID' : 'UNAVAILABLE',
    `GitHub API: ${what} failed${status ? ` (HTTP ${status})` : ''} at ${url}: ${err.message ?? String(e)}`,
    { subject: url, hint, cause: e, details: { status } },
  );
}
