/**
 * Open a pull request (or find the open one for the same branch) and label
 * it; start a workflow by workflow_dispatch.
 * @see https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request
 * @see https://docs.github.com/en/rest/issues/labels#add-labels-to-an-issue
 * @see https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
 */
import { redactText } from '../redact.ts';
import { apiError, type GithubApi, type Octokit, octokitFor } from './client.ts';

export interface OpenPullRequestInput {
  head: string;
  base: string;
  title: string;
  body: string;
  labels?: string[];
}

export interface OpenedPullRequest {
  number: number;
  url: string;
  /** False when an open PR for `head` existed already (its body is updated). */
  created: boolean;
}

/** POST /repos/{o}/{r}/pulls, or reuse the open PR of the same head branch; then add the labels. Title and body lose URL credentials (platform/redact.ts). */
export async function openPullRequest(
  api: GithubApi,
  input: OpenPullRequestInput,
  octokit: Octokit = octokitFor(api),
): Promise<OpenedPullRequest> {
  const { owner, repo } = api;
  const title = redactText(input.title);
  const body = redactText(input.body);
  let pr: { number: number; html_url: string };
  let created = false;
  try {
    const open = await octokit.rest.pulls.list({
      owner,
      repo,
      state: 'open',
      head: `${owner}:${input.head}`,
    });
    const found = open.data.find((p) => p.head.ref === input.head);
    if (found) {
      await octokit.rest.pulls.update({
        owner,
        repo,
        pull_number: found.number,
        title,
        body,
      });
      pr = found;
    } else {
      const res = await octokit.rest.pulls.create({
        owner,
        repo,
        head: input.head,
        base: input.base,
        title,
        body,
      });
      pr = res.data;
      created = true;
    }
  } catch (e) {
    throw apiError(`opening a pull request ${input.head} → ${input.base}`, api, e);
  }
  if (input.labels?.length) {
    try {
      await octokit.rest.issues.addLabels({ owner, repo, issue_number: pr.number, labels: input.labels });
    } catch (e) {
      throw apiError(`labelling #${pr.number} with ${input.labels.join(', ')}`, api, e);
    }
  }
  return { number: pr.number, url: pr.html_url, created };
}

/**
 * POST /repos/{o}/{r}/actions/workflows/{workflow}/dispatches: runs `workflow`
 * (its file name, e.g. drift.yml) as it is on `ref`, with `inputs` that the
 * workflow declares under `on.workflow_dispatch.inputs` (GitHub refuses others
 * with 422). A fine-grained token needs only "Actions: write" for it, which
 * cannot change code (a repository_dispatch needs "Contents: write").
 */
export async function sendWorkflowDispatch(
  api: GithubApi,
  dispatch: { workflow: string; ref: string; inputs?: Record<string, string> },
  octokit: Octokit = octokitFor(api),
): Promise<void> {
  try {
    await octokit.rest.actions.createWorkflowDispatch({
      owner: api.owner,
      repo: api.repo,
      workflow_id: dispatch.workflow,
      ref: dispatch.ref,
      ...(dispatch.inputs ? { inputs: dispatch.inputs } : {}),
    });
  } catch (e) {
    throw apiError(`workflow_dispatch of ${dispatch.workflow} on ${dispatch.ref}`, api, e);
  }
}
