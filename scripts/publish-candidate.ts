/**
 * Publish the candidate that train.yml's train job handed over (train.yml's
 * publish job runs it as `npm run -s ci:publish-candidate`, on the base branch's
 * code, with contents: write and pull-requests: write).
 *
 *   npm run -s ci:publish-candidate -- --from <the downloaded handoff folder> [--lock models.lock.json]
 *
 * Thin: flags → pipelines/training publishForPullRequest (the handoff read as
 * untrusted data → the base branch's check-provenance of the pull request's
 * lock with the entry → commit and push to the PR branch, or for a fork the
 * entry in the comment → PR comment + job summary) → print. See
 * docs/ci-training.md. Exit codes: 0 committed (or already there, or handed
 * to a fork's author), 1 refused by the check or a failure, 2 bad usage.
 */
import { publishForPullRequest } from '../pipelines/training/index.ts';
import { command, isMain, runMain, usageError, usageOf } from '../platform/cli.ts';

export interface MainDeps {
  env?: Record<string, string | undefined>;
  cwd?: string;
  print?: (line: string) => void;
  log?: (line: string) => void;
  fetch?: typeof fetch;
  /** Passed through to the push retries (tests). */
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
}

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run -s ci:publish-candidate --',
  summary: `Publish the candidate that train.yml's train job handed over (train.yml's publish
job): check the lock entry with the base branch's check-provenance, then commit
and push it to the pull request's branch (for a fork: the entry in a comment),
and comment on the pull request (docs/ci-training.md).`,
  options: {
    from: {
      type: 'string',
      value: '<folder>',
      help: "the folder ci:train wrote (candidate.json, report.md), as the train job's\nartifact was downloaded: read as untrusted data (required)",
    },
    lock: {
      type: 'string',
      default: 'models.lock.json',
      value: '<file>',
      help: 'the lock, relative to the repository root',
    },
  },
  notes: `Run from the base branch's checkout (with its history: fetch-depth 0). Needs the
GitHub Actions context of a pull_request_target run: GITHUB_EVENT_PATH,
GITHUB_REPOSITORY, GITHUB_TOKEN (contents: write to push to the pull request's
branch, pull-requests: write to comment), and MLFLOW_TRACKING_URI (with its
credentials) for the provenance check. The entry is committed only when the base
branch's check-provenance accepts it and it names the pull request's head commit.
Prints the comment: the report and the verdict.`,
  exit: {
    0: "committed (or already there, or handed to a fork's author)",
    1: 'refused by the check, or a failure: the message says what and what to do',
  },
} as const;

export const main = command(COMMAND, async ({ values }, deps: MainDeps = {}) => {
  const print = deps.print ?? console.log;
  if (!values.from) throw usageError('--from <folder> is required', usageOf(COMMAND));
  const result = await publishForPullRequest({
    env: deps.env ?? process.env,
    cwd: deps.cwd ?? process.cwd(),
    from: values.from,
    lockPath: values.lock,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.push ? { push: deps.push } : {}),
    ...(deps.log ? { log: deps.log } : {}),
  });
  print(result.markdown);
  return result.outcome === 'refused' ? 1 : 0;
});

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
