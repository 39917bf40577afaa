/**
 * `train` in CI for a pull request (train.yml → `npm run train:ci`): read the
 * GitHub context, train and record the run (pipelines/training: MLflow or the
 * local store, candidate added to models.lock.json), commit the lock to the
 * PR branch (a new version file: a rebase on a push race never conflicts), then
 * write the comparison with prod to the job summary and to the PR comment,
 * updating the earlier comment of the same model. See docs/ci-training.md.
 */
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { type LockedVersion, lockPaths, readLock, versionFileOf, versionIdOf } from '../../lock/index.ts';
import type { BackendName } from '../../model/backend.ts';
import { ProjectError } from '../../platform/errors.ts';
import { type GitRunner, gitRunner, type PublishResult } from '../../platform/git/index.ts';
import type { GithubApi } from '../../platform/github/client.ts';
import {
  trainCommentMarker,
  type UpsertCommentResult,
  upsertComment,
} from '../../platform/github/comment.ts';
import { type PullRequestContext, readPullRequestContext } from '../../platform/github/context.ts';
import { appendJobSummary } from '../../platform/github/summary.ts';
import { stableStringify } from '../../platform/json.ts';
import type { TrainingConfig } from '../../training/config.ts';
import type { SourceInfo } from '../../training/tracking/index.ts';
import { GATES_FILE, loadGatesConfig } from '../promotion/config.ts';
import { publishCandidate } from './candidate.ts';
import { comparisonMarkdown } from './comparison.ts';
import { runComparison } from './comparison-inputs.ts';
import { type TrainAndRecordResult, trainAndRecord } from './train-and-record.ts';

export interface TrainPullRequestOptions {
  config: TrainingConfig;
  configPath?: string;
  /** The step's environment: GITHUB_*, MLFLOW_*, GITHUB_STEP_SUMMARY. */
  env: Record<string, string | undefined>;
  /** The checkout of the PR (a git working tree). */
  cwd: string;
  /** models.lock.json (relative to cwd). */
  lockPath: string;
  /** The artifact folder to write (relative to cwd). */
  outDir: string;
  dataPath?: string;
  modelName?: string;
  /** The environment the candidate is compared with (default prod). */
  compareEnv?: string;
  /** The promotion gates (relative to cwd; default environments/promotion-gates.json): the margin and level of the paired comparison. */
  gatesPath?: string;
  progress?: boolean;
  log?: (line: string) => void;
  readFile?: (path: string) => string;
  /** Push retries (tests shorten the backoff and inject a concurrent push). */
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Force one backend (TRAINING_BACKEND); train:ci checks the GPU first when it is tensorflow-gpu. */
  backend?: BackendName;
}

export interface TrainPullRequestResult {
  context: PullRequestContext;
  run: TrainAndRecordResult;
  /** The candidate's version id in the lock as pushed (it changes when the candidate was re-added). */
  version: string;
  /** Undefined for a PR from a fork: its token cannot push, the lock entry stays in the job only. */
  publish?: PublishResult;
  comment?: UpsertCommentResult;
  /** Why the comment was not posted (a fork's read-only token). */
  commentSkipped?: string;
  markdown: string;
}

/** The commit message of a candidate: subject, blank line, trailers. */
export function candidateCommitMessage(
  model: string,
  version: string,
  entry: LockedVersion,
  ctx: Pick<PullRequestContext, 'runUrl' | 'prNumber'>,
): string {
  const acc = entry.metrics.accuracy;
  const trailers = [
    `Model-Version: ${model}@${version}`,
    `Model-Root-Digest: ${entry.rootDigest}`,
    `Pull-Request: #${ctx.prNumber}`,
  ];
  if (ctx.runUrl) trailers.push(`Workflow-Run: ${ctx.runUrl}`);
  return `train: ${model}@${version} candidate${acc === undefined ? '' : ` (accuracy ${acc.toFixed(4)})`}\n\n${trailers.join('\n')}\n`;
}

/**
 * What the report says for a fork's pull request, whose lock entry the job
 * cannot push: the entry itself, to add as a new version of `model`
 * (provenance.yml then checks it against its MLflow run); a run tracked only
 * in the local store cannot be added from a pull request at all.
 */
export function forkLockNote(model: string, entry: LockedVersion, lockRel: string): string {
  const head = 'Lock: not committed (the job cannot push to a fork).';
  if (entry.mlflow.runId === null) {
    return `${head} The run was tracked in the local store only, so its entry cannot be added from a pull request (\`provenance.yml\` accepts only versions tracked on the MLflow server): check MLFLOW_TRACKING_URI and the MLflow token, then train again.`;
  }
  return [
    `${head} Add this entry as the file \`${versionFileOf(lockRel, model, versionIdOf(entry.rootDigest))}\` (a new version of \`${model}\`); \`provenance.yml\` checks it against MLflow run \`${entry.mlflow.runId}\`:`,
    '',
    '<details><summary>lock entry</summary>',
    '',
    '```json',
    stableStringify(entry).trimEnd(),
    '```',
    '',
    '</details>',
  ].join('\n');
}

/** Checks before training: a git checkout at the PR head with a clean lock file. */
async function preflight(git: GitRunner, ctx: PullRequestContext, lockRel: string): Promise<void> {
  const [, versionsRel] = lockPaths(lockRel);
  const top = await git.tryRun(['rev-parse', '--show-toplevel']);
  if (top.code !== 0) {
    throw new ProjectError('USAGE', `${git.cwd} is not a git checkout`, {
      subject: git.cwd,
      hint: 'run train:ci in the repository checked out by actions/checkout',
    });
  }
  const head = (await git.run(['rev-parse', 'HEAD'])).trim();
  if (head !== ctx.headSha) {
    throw new ProjectError(
      'USAGE',
      `the checkout is at ${head.slice(0, 12)}, not at the pull request head ${ctx.headSha.slice(0, 12)} (pull_request.head.sha)`,
      {
        subject: 'HEAD',
        hint: 'check out the PR head: actions/checkout with ref set to github.event.pull_request.head.sha (the default is the merge commit)',
      },
    );
  }
  const dirty = await git.run(['status', '--porcelain', '--', lockRel, versionsRel]);
  if (dirty) {
    throw new ProjectError(
      'USAGE',
      `${lockRel} (or ${versionsRel}/) has uncommitted changes; train:ci commits the lock and will not mix them in`,
      {
        subject: lockRel,
        hint: 'commit or discard the change first',
      },
    );
  }
}

/** Train for the pull request of the context in `options.env`; see the module comment. */
export async function trainForPullRequest(options: TrainPullRequestOptions): Promise<TrainPullRequestResult> {
  const log = options.log ?? ((l: string) => console.error(l));
  // The context first: a run without it stops here, before anything is trained or written.
  const ctx = readPullRequestContext(options.env, options.readFile);
  const cwd = resolve(options.cwd);
  const lockPath = resolve(cwd, options.lockPath);
  const lockRel = relative(cwd, lockPath);
  const git = gitRunner(cwd, { env: options.env, token: ctx.token, serverUrl: ctx.serverUrl });
  await preflight(git, ctx, lockRel);
  await readLock(lockPath); // a bad lock fails now, not after an hour of training
  const gatesPath = resolve(cwd, options.gatesPath ?? GATES_FILE);
  const gatesConfig = existsSync(gatesPath) ? await loadGatesConfig(gatesPath) : undefined;
  const compareEnv = options.compareEnv ?? 'prod';

  const run = await trainAndRecord({
    config: options.config,
    env: options.env,
    cwd,
    source: sourceOf(ctx),
    lockPath,
    modelName: options.modelName,
    outDir: resolve(cwd, options.outDir),
    dataPath: options.dataPath,
    progress: options.progress ?? false,
    configPath: options.configPath,
    log,
    signal: options.signal,
    backend: options.backend,
    championEnv: compareEnv,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const model = run.modelName;
  const version = run.lockVersion as string;
  const publish = await publishUnlessFork(git, ctx, run, lockPath, options, log);

  const footer = [
    publish
      ? `Lock: \`${model}\` version ${version} added to \`${lockRel}\` in ${publish.commit.slice(0, 7)} on \`${ctx.headRef}\`.`
      : forkLockNote(model, run.lockEntry, lockRel),
  ];
  if (ctx.runUrl) footer.push(`Workflow run: ${ctx.runUrl}`);
  const lock = await readLock(lockPath);
  const input = await runComparison({
    run,
    version,
    lock,
    lockPath,
    compareEnv,
    cwd,
    gatesConfig,
    gatesPath,
    env: options.env,
    fetch: options.fetch,
  });
  const markdown = comparisonMarkdown({ ...input, footer });
  const marker = trainCommentMarker(model);
  const body = `${marker}\n${markdown}`;
  const summaryPath = options.env.GITHUB_STEP_SUMMARY;
  if (summaryPath) await appendJobSummary(summaryPath, markdown);
  else log('GITHUB_STEP_SUMMARY is not set: no job summary written');

  const result: TrainPullRequestResult = { context: ctx, run, version, markdown: body };
  if (publish) result.publish = publish;
  await commentOnPullRequest(ctx, marker, body, result, log);
  return result;
}

/** Where the run's code comes from: the pull request's head. */
function sourceOf(ctx: PullRequestContext): SourceInfo {
  return {
    commit: ctx.headSha,
    branch: ctx.headRef,
    prNumber: ctx.prNumber,
    prHeadSha: ctx.headSha,
    ...(ctx.runUrl ? { runUrl: ctx.runUrl } : {}),
  };
}

/** Commit and push the candidate to the PR branch; undefined for a fork, whose token cannot push. */
async function publishUnlessFork(
  git: GitRunner,
  ctx: PullRequestContext,
  run: TrainAndRecordResult,
  lockPath: string,
  options: TrainPullRequestOptions,
  log: (line: string) => void,
): Promise<PublishResult | undefined> {
  if (ctx.fromFork) {
    log(
      `pull request #${ctx.prNumber} comes from a fork: its token cannot push, so the lock entry is not committed`,
    );
    return undefined;
  }
  const model = run.modelName;
  const version = run.lockVersion as string;
  const publish = await publishCandidate({
    git,
    branch: ctx.headRef,
    lockPath,
    model,
    entry: run.lockEntry,
    message: candidateCommitMessage(model, version, run.lockEntry, ctx),
    push: options.push,
    log,
  });
  log(`pushed ${publish.commit.slice(0, 12)} to ${ctx.headRef} after ${publish.attempts} attempt(s)`);
  return publish;
}

/**
 * Post the report as the PR comment, updating the earlier one of the same
 * model. A fork's read-only token cannot comment: said in the result and
 * the log, not a failure.
 */
async function commentOnPullRequest(
  ctx: PullRequestContext,
  marker: string,
  body: string,
  result: TrainPullRequestResult,
  log: (line: string) => void,
): Promise<void> {
  const api: GithubApi = { token: ctx.token, apiUrl: ctx.apiUrl, owner: ctx.owner, repo: ctx.repo };
  try {
    result.comment = await upsertComment(api, { issueNumber: ctx.prNumber, marker, body });
    log(`PR comment ${result.comment.action}: ${result.comment.url}`);
  } catch (e) {
    if (!ctx.fromFork) throw e;
    result.commentSkipped = (e as Error).message.split('\n')[0];
    log(`warning: no PR comment for a fork's pull request: ${result.commentSkipped}`);
  }
}
