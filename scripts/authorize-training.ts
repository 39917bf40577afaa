/**
 * authorize-training: may train.yml train this pull request on the
 * self-hosted runner? (the `authorize` job, on `pull_request_target`, with
 * the base branch's code; platform/github/authorize.ts decides). See
 * docs/gitops.md "Who may train on the self-hosted runner".
 *
 *   npm run -s ci:authorize-training
 *
 * Thin: GitHub context → authorizeTraining → step outputs + job summary.
 * Exit 0 for either decision (a "no" skips the train job, it is no failure),
 * 1 when GitHub cannot be asked, 2 bad usage or no pull-request context.
 */
import { isMain, parseCommand, runMain, type ScriptDeps, scriptDeps } from '../platform/cli.ts';
import {
  appendJobSummary,
  authorizeTraining,
  readPullRequestContext,
  setOutputs,
} from '../platform/github/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run -s ci:authorize-training',
  summary: `Decides whether train.yml may train the pull request of this run on the
self-hosted runner: a branch of this repository, or a fork's head commit
approved by a user with write access.`,
  options: {},
  notes: `Needs the context of a pull_request_target run: GITHUB_EVENT_NAME,
GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_TOKEN (pull-requests: read); without
it, exit 2. Writes the step outputs authorized (true|false), sha (the commit to
train) and fork (true|false) to GITHUB_OUTPUT, and the decision to the job summary.`,
  exit: {
    0: 'either decision (a "no" skips the train job, it is no failure)',
    1: 'GitHub cannot be asked: the message says why',
  },
} as const;

export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, (t) => d.print(`${t}\n`));
  if (!cli) return 0;
  const ctx = readPullRequestContext(d.env);
  const decision = await authorizeTraining(
    { token: ctx.token, apiUrl: ctx.apiUrl, owner: ctx.owner, repo: ctx.repo },
    {
      prNumber: ctx.prNumber,
      eventHeadSha: ctx.headSha,
      ...(ctx.action ? { action: ctx.action } : {}),
      ...(ctx.label ? { label: ctx.label } : {}),
    },
  );
  const verdict = decision.authorized ? 'authorized' : 'not authorized';
  d.print(`training ${verdict}: ${decision.reason}\n`);
  if (d.env.GITHUB_OUTPUT) {
    await setOutputs(d.env.GITHUB_OUTPUT, {
      authorized: String(decision.authorized),
      sha: decision.headSha,
      fork: String(decision.fromFork),
    });
  }
  if (d.env.GITHUB_STEP_SUMMARY) {
    await appendJobSummary(d.env.GITHUB_STEP_SUMMARY, `### Training ${verdict}\n\n${decision.reason}\n`);
  }
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
