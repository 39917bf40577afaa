/**
 * The second half of training for a pull request (train.yml's publish job →
 * `npm run ci:publish-candidate`), on the base branch's code only: it takes what
 * the train job handed over (./handoff.ts: the candidate and the report,
 * downloaded as an artifact) as untrusted data, checks the entry with the
 * base branch's `check-provenance` (lock/provenance-git.ts: against the pull
 * request's lock, its MLflow run and the base branch's
 * environments/artifact-origins.json), and checks that it names the head
 * commit this run trained. Only an entry that passes is committed to the
 * pull request's branch (a new version file, with platform/git commitAndPush
 * surviving push races); a fork's branch cannot be pushed to with the job
 * token, so there the comment carries the checked entry for its author to
 * add. Either way the PR comment (one per model, updated on a re-run) is the
 * train job's report with this job's verdict below it.
 *
 * The pull request's files are checked out as data into a separate git
 * worktree: nothing of them runs here (no npm, no script, no hook of theirs,
 * no Git LFS download), and the lock's files there must be plain files (a
 * symbolic link could point the job at any file of the runner).
 */
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import {
  ARTIFACT_ORIGINS_FILE,
  checkProvenanceAt,
  type LockedVersion,
  loadArtifactOrigins,
  lockPaths,
  type ProvenanceProblem,
  type ProvenanceReport,
  readLock,
  readLockAt,
  signVersionEntry,
  versionFileOf,
  versionIdOf,
  versionWithRoot,
} from '../../lock/index.ts';
import { signerFromEnv } from '../../model/signing/sign.ts';
import { ProjectError } from '../../platform/errors.ts';
import { gitRunner, type PublishResult } from '../../platform/git/index.ts';
import type { GithubApi } from '../../platform/github/client.ts';
import {
  trainCommentMarker,
  type UpsertCommentResult,
  upsertComment,
} from '../../platform/github/comment.ts';
import { type PullRequestContext, readPullRequestContext } from '../../platform/github/context.ts';
import { appendJobSummary } from '../../platform/github/summary.ts';
import { stableStringify } from '../../platform/json.ts';
import { mlflowConfigFromEnv } from '../../platform/mlflow/index.ts';
import { objectStoreFromEnv } from '../../platform/object-store/index.ts';
import { lockCandidate, publishCandidate } from './candidate.ts';
import { type Handoff, readHandoff } from './handoff.ts';

export interface PublishPullRequestOptions {
  /** The step's environment: GITHUB_* (the job token, with contents: write), MLFLOW_*, GITHUB_STEP_SUMMARY. */
  env: Record<string, string | undefined>;
  /** The base branch's checkout: the code that runs, with the history for the merge base. */
  cwd: string;
  /** The handoff folder the train job uploaded (untrusted data). */
  from: string;
  /** The lock, relative to the repository root (default models.lock.json). */
  lockPath?: string;
  /** The allowed artifact origins: the base branch's file (relative to cwd; default environments/artifact-origins.json). */
  originsPath?: string;
  /** An empty folder for the pull request's files (default a new one under RUNNER_TEMP, or the system's temp folder). */
  workDir?: string;
  readFile?: (path: string) => string;
  fetch?: typeof fetch;
  /** Push retries (tests shorten the backoff and inject a concurrent push). */
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
  log?: (line: string) => void;
}

/** What became of the entry: committed, on the branch already, handed to a fork's author, or refused. */
export type PublishOutcome = 'committed' | 'present' | 'fork' | 'refused';

export interface PublishPullRequestResult {
  context: PullRequestContext;
  model: string;
  version: string;
  outcome: PublishOutcome;
  /** Every reason the entry was refused (the provenance check's, and a commit that is not the head's). */
  problems: ProvenanceProblem[];
  provenance: ProvenanceReport;
  publish?: PublishResult;
  comment: UpsertCommentResult;
  /** The comment's body. */
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
 * What the comment says for a fork's pull request, whose branch the job
 * token cannot push to: the checked entry, to add as a new version of
 * `model` (provenance.yml checks it again on the next push).
 */
export function forkLockNote(model: string, entry: LockedVersion, lockRel: string): string {
  return [
    `Lock: not committed (the job cannot push to a fork). The entry matches MLflow run \`${entry.mlflow.runId}\` (checked with the base branch's code): add it as the file \`${versionFileOf(lockRel, model, versionIdOf(entry.rootDigest))}\` (a new version of \`${model}\`); \`provenance.yml\` checks it again:`,
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

/** The entry must name the commit this run trained: the pull request's head. */
function headProblems(h: Handoff, ctx: PullRequestContext): ProvenanceProblem[] {
  if (h.entry.gitCommit === ctx.headSha) return [];
  return [
    {
      model: h.model,
      version: h.version,
      field: 'gitCommit',
      message: `model "${h.model}" version ${h.version}: gitCommit: is ${h.entry.gitCommit ?? 'null'}, but this run trained the pull request head ${ctx.headSha}`,
    },
  ];
}

/** Publish the candidate the train job handed over; see the module comment. */
export async function publishForPullRequest(o: PublishPullRequestOptions): Promise<PublishPullRequestResult> {
  const log = o.log ?? ((l: string) => console.error(l));
  // The context and the handoff first: a run without them stops before git or the API.
  const ctx = readPullRequestContext(o.env, o.readFile);
  const h = await readHandoff(resolve(o.from));
  const cwd = resolve(o.cwd);
  const lockRel = o.lockPath ?? 'models.lock.json';
  const auth = { env: o.env, token: ctx.token, serverUrl: ctx.serverUrl };
  const base = gitRunner(cwd, auth);
  const baseSha = await base.run(['rev-parse', 'HEAD']);
  // The pull request's commits as data (a fork's too: refs/pull/<n>/head lives in this repository).
  await base.run([
    'fetch',
    '--no-tags',
    'origin',
    `+refs/pull/${ctx.prNumber}/head:refs/remotes/origin/pr-${ctx.prNumber}`,
  ]);
  if (!ctx.fromFork) {
    // The branch as it is now: a re-run finds its entry there (pushed by the first run).
    await base.run(['fetch', '--no-tags', 'origin', `+refs/heads/${ctx.headRef}:${branchRef(ctx)}`]);
  }
  if ((await base.tryRun(['cat-file', '-e', `${ctx.headSha}^{commit}`])).code !== 0) {
    throw new ProjectError(
      'NOT_FOUND',
      `the pull request head ${ctx.headSha} is not in refs/pull/${ctx.prNumber}/head of origin`,
      {
        subject: `refs/pull/${ctx.prNumber}/head`,
        hint: 'the branch was force-pushed meanwhile: train again',
      },
    );
  }
  const workDir = o.workDir ?? (await mkdtemp(join(o.env.RUNNER_TEMP || tmpdir(), 'pr-head-')));
  // GIT_LFS_SKIP_SMUDGE: a .gitattributes of the pull request's cannot make this job download anything.
  await gitRunner(cwd, { ...auth, env: { ...o.env, GIT_LFS_SKIP_SMUDGE: '1' } }).run([
    'worktree',
    'add',
    '--detach',
    workDir,
    ctx.headSha,
  ]);
  try {
    await refuseLinks(workDir, lockPaths(join(workDir, lockRel)));
    return await publishInWorktree(o, ctx, h, { baseSha, workDir, lockRel, log });
  } finally {
    await base.tryRun(['worktree', 'remove', '--force', workDir]);
    if (!o.workDir) await rm(workDir, { recursive: true, force: true });
  }
}

/** The lock's files in the pull request's worktree are plain files and folders: INVALID naming a link. */
async function refuseLinks(root: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue;
    if (st.isSymbolicLink()) {
      throw new ProjectError(
        'INVALID',
        `${relative(root, path)} is a symbolic link in the pull request; the lock's files are plain files`,
        {
          subject: relative(root, path),
          hint: 'replace the link by the file it points to, then train again',
        },
      );
    }
    if (st.isDirectory())
      await refuseLinks(
        root,
        (await readdir(path)).map((n) => join(path, n)),
      );
  }
}

/** Where the pull request's branch is fetched to (same repository only). */
const branchRef = (ctx: PullRequestContext) => `refs/remotes/origin/${ctx.headRef}`;

/** Whether the lock on the branch's tip (same repository) or at the head has the entry already. */
async function onBranch(o: PublishPullRequestOptions, ctx: PullRequestContext, h: Handoff, lockPath: string) {
  const locks = [await readLock(lockPath)];
  if (!ctx.fromFork)
    locks.push(await readLockAt(resolve(o.cwd, o.lockPath ?? 'models.lock.json'), branchRef(ctx)));
  return locks.some((lock) => versionWithRoot(lock, h.model, h.entry.rootDigest) !== undefined);
}

/** Where the pull request's files are, and what the checks compare them with. */
interface Worktree {
  baseSha: string;
  workDir: string;
  lockRel: string;
  log: (line: string) => void;
}

/** Add the entry to the pull request's lock in the worktree, check it, commit and push it (or refuse it), comment. */
async function publishInWorktree(
  o: PublishPullRequestOptions,
  ctx: PullRequestContext,
  handoff: Handoff,
  w: Worktree,
): Promise<PublishPullRequestResult> {
  let h = handoff;
  const { log } = w;
  const lockPath = join(w.workDir, w.lockRel);
  const present = await onBranch(o, ctx, h, lockPath);
  // Added in the worktree even when the branch has it: the check is of the head's lock with the entry.
  await lockCandidate(lockPath, h.model, h.entry, log);
  const provenance = await checkHandoff(o, lockPath, w.baseSha);
  const problems = [...headProblems(h, ctx), ...provenance.problems];
  const outcome: PublishOutcome =
    problems.length > 0 ? 'refused' : present ? 'present' : ctx.fromFork ? 'fork' : 'committed';
  // Signed only once checked, and only here, where no code of the pull request runs (docs/signing.md).
  if (outcome === 'committed' || outcome === 'fork') h = await signChecked(o, h, lockPath, log);
  let publish: PublishResult | undefined;
  if (outcome === 'committed') {
    const git = gitRunner(w.workDir, { env: o.env, token: ctx.token, serverUrl: ctx.serverUrl });
    publish = await publishCandidate({
      git,
      branch: ctx.headRef,
      lockPath,
      model: h.model,
      entry: h.entry,
      message: candidateCommitMessage(h.model, h.version, h.entry, ctx),
      push: o.push,
      log,
    });
    log(`pushed ${publish.commit.slice(0, 12)} to ${ctx.headRef} after ${publish.attempts} attempt(s)`);
  }
  const verdict = verdictOf(outcome, { ctx, h, problems, publish, lockRel: w.lockRel });
  const footer = ctx.runUrl ? `${verdict}\n\nWorkflow run: ${ctx.runUrl}` : verdict;
  const marker = trainCommentMarker(h.model);
  const body = `${marker}\n${h.report.trimEnd()}\n\n---\n\n${footer}\n`;
  const summaryPath = o.env.GITHUB_STEP_SUMMARY;
  if (summaryPath) await appendJobSummary(summaryPath, `${footer}\n`);
  const api: GithubApi = { token: ctx.token, apiUrl: ctx.apiUrl, owner: ctx.owner, repo: ctx.repo };
  const comment = await upsertComment(api, { issueNumber: ctx.prNumber, marker, body });
  log(`PR comment ${comment.action}: ${comment.url}`);
  const result = { context: ctx, model: h.model, version: h.version, outcome, problems, provenance };
  return { ...result, ...(publish ? { publish } : {}), comment, markdown: body };
}

/**
 * The checked entry, signed by this job's signer (MODEL_SIGNING=keyless in
 * train.yml's publish job): the unsigned version file the check read is
 * replaced by the signed one before anything is committed or posted. No
 * signer configured: the entry stays unsigned, and the line says so.
 */
async function signChecked(
  o: PublishPullRequestOptions,
  h: Handoff,
  lockPath: string,
  log: (line: string) => void,
): Promise<Handoff> {
  const entry = await signVersionEntry(h.entry, h.model, await signerFromEnv(o.env), log);
  if (entry === h.entry) return h;
  await rm(versionFileOf(lockPath, h.model, h.version));
  await lockCandidate(lockPath, h.model, entry, log);
  return { ...h, entry };
}

/** The base branch's check-provenance of the pull request's lock with the entry added (in the worktree). */
async function checkHandoff(
  o: PublishPullRequestOptions,
  lockPath: string,
  baseSha: string,
): Promise<ProvenanceReport> {
  const mlflow = mlflowConfigFromEnv(o.env);
  const objectStore = objectStoreFromEnv(o.env);
  try {
    return await checkProvenanceAt({
      lockPath,
      base: baseSha,
      // The base branch's origins: the pull request's copy could allow anything.
      origins: await loadArtifactOrigins(resolve(o.cwd, o.originsPath ?? ARTIFACT_ORIGINS_FILE)),
      ...(mlflow ? { mlflow } : {}),
      ...(objectStore ? { objectStore } : {}),
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
  } finally {
    objectStore?.close();
  }
}

/** The verdict line(s) under the report. */
function verdictOf(
  outcome: PublishOutcome,
  v: {
    ctx: PullRequestContext;
    h: Handoff;
    problems: ProvenanceProblem[];
    publish?: PublishResult;
    lockRel: string;
  },
): string {
  const { ctx, h } = v;
  switch (outcome) {
    case 'committed':
      return `Lock: \`${h.model}\` version ${h.version} added to \`${v.lockRel}\` in ${v.publish?.commit.slice(0, 7)} on \`${ctx.headRef}\`, after the base branch's provenance check (it matches its MLflow run).`;
    case 'present':
      return `Lock: \`${h.model}\` version ${h.version} is on \`${ctx.headRef}\` already (it matches its MLflow run).`;
    case 'fork':
      return forkLockNote(h.model, h.entry, v.lockRel);
    case 'refused':
      return [
        `Lock: \`${h.model}\` version ${h.version} was **not committed**: the base branch's provenance check refused it.`,
        '',
        ...v.problems.map((p) => `- ${p.message}`),
      ].join('\n');
  }
}
