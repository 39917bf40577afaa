/**
 * The GitHub REST calls this project makes, through `@actions/github`'s
 * octokit (`getOctokit(token, { baseUrl })`, baseUrl from GITHUB_API_URL so
 * that GitHub Enterprise, and the fake server in tests, are reached the same
 * way). Every failure is a ProjectError naming the call and the URL.
 * @see https://docs.github.com/en/rest/issues/comments
 * @see https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request
 * @see https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event
 */
import { getOctokit } from '@actions/github';
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

/** An octokit for `api` (no retries of its own: a failed call fails the step, which is re-runnable). */
export function octokitFor(api: GithubApi): Octokit {
  return getOctokit(api.token, { baseUrl: api.apiUrl, userAgent: 'gitops-ml-template' });
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
