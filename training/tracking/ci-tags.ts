import { readFileSync } from 'node:fs';
import { runSync } from '../../platform/shell.ts';

/** Where a run came from: the commit, branch and pull request that produced it. */
export interface SourceInfo {
  commit?: string;
  branch?: string;
  prNumber?: number;
  /** The PR head commit (GITHUB_SHA is the merge commit on pull_request events). */
  prHeadSha?: string;
  runUrl?: string;
  /** The ref a Kubernetes training Job was asked to check out (TRAINING_GIT_REF), and from where. */
  ref?: string;
  repository?: string;
}

/**
 * Source info from the GitHub Actions environment: GITHUB_SHA, GITHUB_HEAD_REF
 * (PR branch) or GITHUB_REF_NAME, and the PR number and head sha from the
 * event payload at GITHUB_EVENT_PATH. Empty outside Actions.
 * @see https://docs.github.com/en/actions/reference/variables-reference
 */
export function sourceInfoFromActionsEnv(
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): SourceInfo {
  const info: SourceInfo = {};
  if (env.GITHUB_SHA) info.commit = env.GITHUB_SHA;
  const branch = env.GITHUB_HEAD_REF || env.GITHUB_REF_NAME;
  if (branch) info.branch = branch;
  if (env.GITHUB_EVENT_PATH) {
    try {
      const event = JSON.parse(readFile(env.GITHUB_EVENT_PATH)) as {
        pull_request?: { number?: number; head?: { sha?: string } };
      };
      if (typeof event.pull_request?.number === 'number') info.prNumber = event.pull_request.number;
      if (event.pull_request?.head?.sha) info.prHeadSha = event.pull_request.head.sha;
    } catch {
      // no payload (a local run of the workflow): the PR number is simply unknown
    }
  }
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) {
    info.runUrl = `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
  }
  return info;
}

/**
 * Inside a training Job (pipelines/training/kubernetes): the checkout's commit, and the
 * ref and repository the submitter asked for (TRAINING_GIT_REF,
 * TRAINING_GIT_REPOSITORY), recorded on the run.
 */
export function sourceInfoFromJob(env: Record<string, string | undefined>, cwd: string): SourceInfo {
  return {
    ...sourceInfoFromGit(cwd),
    ...(env.TRAINING_GIT_REF ? { ref: env.TRAINING_GIT_REF } : {}),
    ...(env.TRAINING_GIT_REPOSITORY ? { repository: env.TRAINING_GIT_REPOSITORY } : {}),
  };
}

/** Commit and branch of the git checkout at `cwd`, for runs outside Actions; empty when not a repo. */
export function sourceInfoFromGit(cwd: string): SourceInfo {
  const git = (...args: string[]) => {
    const r = runSync('git', args, { cwd, nothrow: true, timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout.trim() : '';
  };
  const info: SourceInfo = {};
  const commit = git('rev-parse', 'HEAD');
  if (commit) info.commit = commit;
  const branch = git('rev-parse', '--abbrev-ref', 'HEAD');
  if (branch && branch !== 'HEAD') info.branch = branch;
  return info;
}

/**
 * MLflow tags for the source: MLflow's own system tags for commit and branch
 * (the UI shows them), plus ours for the PR.
 * @see https://mlflow.org/docs/latest/ml/tracking/tracking-api/#system-tags
 */
export function sourceTags(info: SourceInfo): Record<string, string> {
  const tags: Record<string, string> = {};
  if (info.commit) tags['mlflow.source.git.commit'] = info.commit;
  if (info.branch) tags['mlflow.source.git.branch'] = info.branch;
  if (info.prNumber !== undefined) tags['github.pr_number'] = String(info.prNumber);
  if (info.prHeadSha) tags['github.pr_head_sha'] = info.prHeadSha;
  if (info.runUrl) tags['github.run_url'] = info.runUrl;
  if (info.ref) tags['gitops-ml.git.ref'] = info.ref;
  if (info.repository) tags['mlflow.source.git.repoURL'] = info.repository;
  return tags;
}
