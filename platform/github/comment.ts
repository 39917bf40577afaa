/**
 * One pull-request comment per model that a re-run updates instead of
 * adding another: the comment carries a hidden marker
 * (`<!-- gitops-ml:train:<model> -->`); the upsert lists the issue's
 * comments (every page), PATCHes the first one with the marker that the bot
 * posting it wrote, else POSTs. Anyone can write the marker into a comment of
 * their own, so a comment by anyone else is never the one updated: the
 * report would land under their name, or fail to be written at all.
 * @see https://docs.github.com/en/rest/issues/comments
 */
import { BOT_NAME } from '../git/runner.ts';
import { redactText } from '../redact.ts';
import { apiError, type GithubApi, type Octokit, octokitFor } from './client.ts';

/** The hidden marker of the training comment of `model`. */
export function trainCommentMarker(model: string): string {
  return `<!-- gitops-ml:train:${model} -->`;
}

export interface UpsertCommentInput {
  issueNumber: number;
  /** A hidden HTML comment that identifies the comment; prepended to the body when missing. */
  marker: string;
  body: string;
  /**
   * The login of the bot the token acts as, whose marked comment is updated:
   * `github-actions[bot]` (the default) for the job's GITHUB_TOKEN,
   * `<app-slug>[bot]` for a GitHub App's installation token.
   */
  author?: string;
}

export interface UpsertCommentResult {
  action: 'created' | 'updated';
  id: number;
  url: string;
}

/** True when `comment` was written by the bot `login` (a user's login cannot end in `[bot]`; the type says so too). */
function byBot(comment: { user?: { login?: string; type?: string } | null }, login: string): boolean {
  return comment.user?.login === login && comment.user.type === 'Bot';
}

/** Create or update the marked comment of bot `input.author` on issue/PR `issueNumber`; the body loses any URL credentials (platform/redact.ts). */
export async function upsertComment(
  api: GithubApi,
  input: UpsertCommentInput,
  octokit: Octokit = octokitFor(api),
): Promise<UpsertCommentResult> {
  const text = redactText(input.body);
  const body = text.includes(input.marker) ? text : `${input.marker}\n${text}`;
  const { owner, repo } = api;
  const author = input.author ?? BOT_NAME;
  let existing: { id: number } | undefined;
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, {
      owner,
      repo,
      issue_number: input.issueNumber,
      per_page: 100,
    });
    existing = comments.find(
      (c) => byBot(c, author) && typeof c.body === 'string' && c.body.includes(input.marker),
    );
  } catch (e) {
    throw apiError(`listing the comments of #${input.issueNumber}`, api, e);
  }
  try {
    if (existing) {
      const res = await octokit.rest.issues.updateComment({ owner, repo, comment_id: existing.id, body });
      return { action: 'updated', id: res.data.id, url: res.data.html_url };
    }
    const res = await octokit.rest.issues.createComment({
      owner,
      repo,
      issue_number: input.issueNumber,
      body,
    });
    return { action: 'created', id: res.data.id, url: res.data.html_url };
  } catch (e) {
    throw apiError(
      existing
        ? `updating comment ${existing.id} on #${input.issueNumber}`
        : `commenting on #${input.issueNumber}`,
      api,
      e,
    );
  }
}
