/**
 * Who may start training on the self-hosted runner for a pull request. The
 * decision is taken here, from GitHub's API, by the base branch's code (the
 * `authorize` job of train.yml runs on `pull_request_target`, never checks out
 * the pull request), and not by an `if:` in a `pull_request` workflow, whose
 * file a fork can edit (for `pull_request`, GitHub runs the workflow files of
 * the merge commit).
 *
 * - A branch of this repository: yes (its author can push here already).
 * - A fork: only for the pull request's current head commit, when a user with
 *   write, maintain or admin access approved that very commit (a review with
 *   `state: APPROVED` and `commit_id` = the head SHA, still that user's latest
 *   decisive review), and no such user's latest review requests changes. A
 *   push after the approval moves the head: no approval, no training.
 *
 * A `labeled` event starts training only for the label `safe-to-train` (a
 * maintainer's "train now", e.g. after approving); other labels decide no.
 * @see https://docs.github.com/en/rest/pulls/pulls#get-a-pull-request
 * @see https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request
 * @see https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user
 * @see https://securitylab.github.com/resources/github-actions-preventing-pwn-requests/
 */
import { apiError, type GithubApi, type Octokit, octokitFor } from './client.ts';

/** The label a maintainer adds to (re)start training after approving the head commit. */
export const TRAIN_LABEL = 'safe-to-train';

/** Legacy base roles that may approve training (`maintain` is reported as `write`). */
const MAY_APPROVE = new Set(['admin', 'write']);

/** Review states that change a reviewer's verdict; COMMENTED and PENDING do not. */
const DECISIVE = new Set(['APPROVED', 'CHANGES_REQUESTED', 'DISMISSED']);

export interface AuthorizeInput {
  prNumber: number;
  /** The head SHA in the event payload: the run is for that commit only. */
  eventHeadSha?: string;
  /** The event's action (`opened`, `synchronize`, `labeled`, ...) and, for `labeled`, the label. */
  action?: string;
  label?: string;
}

export interface TrainingAuthorization {
  authorized: boolean;
  prNumber: number;
  /** The commit to train (the pull request's head now). */
  headSha: string;
  /** True when the head is in another repository (a fork). */
  fromFork: boolean;
  /** Logins whose approval of `headSha` authorized it (forks). */
  approvedBy: string[];
  /** One sentence: why yes, or why not and what to do. */
  reason: string;
}

interface Review {
  user: { login: string } | null;
  state: string;
  commit_id: string | null;
}

const short = (sha: string) => sha.slice(0, 12);

/** Each reviewer's latest decisive review (reviews come oldest first). */
function latestVerdicts(reviews: readonly Review[]): Map<string, Review> {
  const out = new Map<string, Review>();
  for (const r of reviews) if (r.user && DECISIVE.has(r.state)) out.set(r.user.login, r);
  return out;
}

/** `admin`/`write`/`read`/`none` of `login` on the repository; a login GitHub does not know has none. */
async function permissionOf(api: GithubApi, octokit: Octokit, login: string): Promise<string> {
  try {
    const res = await octokit.rest.repos.getCollaboratorPermissionLevel({
      owner: api.owner,
      repo: api.repo,
      username: login,
    });
    return res.data.permission;
  } catch (e) {
    if ((e as { status?: number }).status === 404) return 'none';
    throw apiError(`reading the permission of ${login}`, api, e);
  }
}

/** Decide whether training may run for pull request `input.prNumber`; see the module comment. */
export async function authorizeTraining(
  api: GithubApi,
  input: AuthorizeInput,
  octokit: Octokit = octokitFor(api),
): Promise<TrainingAuthorization> {
  let pr: Awaited<ReturnType<Octokit['rest']['pulls']['get']>>['data'];
  const { owner, repo } = api;
  try {
    pr = (await octokit.rest.pulls.get({ owner, repo, pull_number: input.prNumber })).data;
  } catch (e) {
    throw apiError(`reading pull request #${input.prNumber}`, api, e);
  }
  const headSha = pr.head.sha;
  const fromFork = pr.head.repo?.full_name !== `${owner}/${repo}`;
  const decide = (authorized: boolean, reason: string, approvedBy: string[] = []) => ({
    authorized,
    prNumber: input.prNumber,
    headSha,
    fromFork,
    approvedBy,
    reason: `pull request #${input.prNumber} (${short(headSha)}): ${reason}`,
  });
  if (pr.state !== 'open') return decide(false, `it is ${pr.state}`);
  if (input.action === 'labeled' && input.label !== TRAIN_LABEL) {
    return decide(
      false,
      `the label "${input.label ?? ''}" does not start training (only "${TRAIN_LABEL}" does)`,
    );
  }
  if (input.eventHeadSha && input.eventHeadSha !== headSha) {
    return decide(
      false,
      `the head moved from ${short(input.eventHeadSha)} since this event; the run for the new head decides`,
    );
  }
  if (!fromFork) return decide(true, `a branch of ${owner}/${repo}: its author can push here`);
  // A fork's approved head trains when a maintainer adds the label, not again each time its author
  // closes and reopens the pull request (a low finding of the review: re-runs on the runner at will).
  if (input.action === 'reopened') {
    return decide(
      false,
      `from the fork ${pr.head.repo?.full_name ?? '(deleted)'}: reopening does not start training; a maintainer adds the label ${TRAIN_LABEL} again`,
    );
  }

  const { approvers, ignored, blockers } = await reviewVerdicts(api, octokit, input.prNumber, headSha);
  const from = `from the fork ${pr.head.repo?.full_name ?? '(deleted)'}`;
  if (blockers.length > 0) {
    return decide(false, `${from}: changes requested by ${blockers.join(', ')}`);
  }
  if (approvers.length === 0) {
    return decide(
      false,
      `${from}: no approving review of ${short(headSha)} by a user with write access${ignored.length ? ` (not counted: ${ignored.join(', ')})` : ''}; a maintainer reads the change, approves this commit, then adds the label ${TRAIN_LABEL}`,
    );
  }
  return decide(true, `${from}: ${short(headSha)} approved by ${approvers.join(', ')}`, approvers);
}

/**
 * The latest verdict of each reviewer who may approve (write access or
 * more): who approved `headSha` itself, who requested changes, and the
 * approvals not counted (older commit, too little access).
 */
async function reviewVerdicts(
  api: GithubApi,
  octokit: Octokit,
  prNumber: number,
  headSha: string,
): Promise<{ approvers: string[]; ignored: string[]; blockers: string[] }> {
  const { owner, repo } = api;
  let reviews: Review[];
  try {
    reviews = await octokit.paginate(octokit.rest.pulls.listReviews, {
      owner,
      repo,
      pull_number: prNumber,
      per_page: 100,
    });
  } catch (e) {
    throw apiError(`listing the reviews of #${prNumber}`, api, e);
  }
  const approvers: string[] = [];
  const ignored: string[] = [];
  const blockers: string[] = [];
  for (const [login, r] of [...latestVerdicts(reviews)].sort(([a], [b]) => a.localeCompare(b))) {
    if (r.state === 'DISMISSED') continue;
    const permission = await permissionOf(api, octokit, login);
    if (!MAY_APPROVE.has(permission)) {
      if (r.state === 'APPROVED') ignored.push(`${login} (${permission} access)`);
      continue;
    }
    if (r.state === 'CHANGES_REQUESTED') blockers.push(login);
    else if (r.commit_id === headSha) approvers.push(login);
    else
      ignored.push(
        `${login} (approved ${r.commit_id ? short(r.commit_id) : 'a commit that no longer exists'}, an older commit)`,
      );
  }
  return { approvers, ignored, blockers };
}
