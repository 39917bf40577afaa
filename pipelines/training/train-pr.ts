/**
 * `train` in CI for a pull request (train.yml's train job → `npm run ci:train`):
 * read the GitHub context, train and record the run (pipelines/training:
 * MLflow or the local store, candidate added to the checkout's
 * models.lock.json), write the comparison with prod to the job summary, and
 * hand the candidate and the report over (./handoff.ts) to the publish job.
 * This job runs the pull request's code, so it gets read-only access to the
 * repository and no GitHub token: it pushes nothing and comments nothing.
 * The publish job, on the base branch's code, re-checks the entry and
 * commits it (./publish-pr.ts). See docs/ci-training.md.
 */
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { lockPaths, readLock } from '../../lock/index.ts';
import type { BackendName } from '../../model/backend.ts';
import { ProjectError } from '../../platform/errors.ts';
import { type GitRunner, gitRunner } from '../../platform/git/index.ts';
import { type PullRequestContext, readPullRequestContext } from '../../platform/github/context.ts';
import { appendJobSummary } from '../../platform/github/summary.ts';
import type { TrainingConfig } from '../../training/config.ts';
import type { SourceInfo } from '../../training/tracking/index.ts';
import { GATES_FILE, loadGatesConfig } from '../promotion/config.ts';
import { comparisonMarkdown } from './comparison.ts';
import { runComparison } from './comparison-inputs.ts';
import { HANDOFF_DIR, writeHandoff } from './handoff.ts';
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
  /** The folder the candidate and the report are handed over in (relative to cwd; default {@link HANDOFF_DIR}). */
  handoffDir?: string;
  dataPath?: string;
  modelName?: string;
  /** The environment the candidate is compared with (default prod). */
  compareEnv?: string;
  /** The promotion gates (relative to cwd; default environments/promotion-gates.json): the margin and level of the paired comparison. */
  gatesPath?: string;
  progress?: boolean;
  log?: (line: string) => void;
  readFile?: (path: string) => string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Force one backend (TRAINING_BACKEND); ci:train checks the GPU first when it is tensorflow-gpu. */
  backend?: BackendName;
}

export interface TrainPullRequestResult {
  context: PullRequestContext;
  run: TrainAndRecordResult;
  /** The candidate's version id (content-addressed). */
  version: string;
  /** The handoff folder written (absolute): candidate.json and report.md. */
  handoff: string;
  /** The job summary: the report and what happens to the entry next. */
  markdown: string;
}

/** Checks before training: a git checkout at the PR head with its lock as committed. */
async function preflight(git: GitRunner, ctx: PullRequestContext, lockRel: string): Promise<void> {
  const [, versionsRel] = lockPaths(lockRel);
  const top = await git.tryRun(['rev-parse', '--show-toplevel']);
  if (top.code !== 0) {
    throw new ProjectError('USAGE', `${git.cwd} is not a git checkout`, {
      subject: git.cwd,
      hint: 'run ci:train in the repository checked out by actions/checkout',
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
      `${lockRel} (or ${versionsRel}/) has uncommitted changes; ci:train compares with the lock of the pull request head and will not mix them in`,
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
  // No token: this job runs the pull request's code, and calls neither the API nor a push.
  const ctx = readPullRequestContext(options.env, options.readFile, { needsToken: false });
  const cwd = resolve(options.cwd);
  const lockPath = resolve(cwd, options.lockPath);
  const lockRel = relative(cwd, lockPath);
  const git = gitRunner(cwd, { env: options.env });
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
  const report = comparisonMarkdown(input);
  const handoff = resolve(cwd, options.handoffDir ?? HANDOFF_DIR);
  await writeHandoff(handoff, { model, entry: run.lockEntry, report });
  log(`handoff: ${model} version ${version} and the report written to ${handoff}`);
  const next = `Lock: \`${model}\` version ${version} goes to the \`publish\` job, which checks it against its run with the base branch's code and then commits it to \`${ctx.headRef}\` (a fork's pull request: posts it in the comment).`;
  const markdown = `${report}${next}\n`;
  const summaryPath = options.env.GITHUB_STEP_SUMMARY;
  if (summaryPath) await appendJobSummary(summaryPath, markdown);
  else log('GITHUB_STEP_SUMMARY is not set: no job summary written');
  return { context: ctx, run, version, handoff, markdown };
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
