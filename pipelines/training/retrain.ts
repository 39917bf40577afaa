/**
 * Continuous training (drift.yml → `npm run retrain`): on a branch
 * `retrain/<date>-<short sha>` from the base branch, run the same train +
 * lock path as a human PR (pipelines/training), compare the candidate with the
 * version pinned in prod under the promotion gates
 * (environments/promotion-gates.json when present, else accuracy >= prod's),
 * and when it is better push the branch and open a pull request labelled
 * "retrain" with the comparison: merging it promotes the candidate through
 * the usual promote.yml. When it is not better, say why, delete the branch
 * and open nothing. See docs/ci-training.md.
 */
import { access } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { type LockedVersion, lockPaths, readLock } from '../../lock/index.ts';
import { DRIFT_ALERTS } from '../../monitoring/alert-relay.ts';
import { describeAlert, firingAlerts, type PrometheusConfig } from '../../monitoring/prometheus-api.ts';
import { ProjectError } from '../../platform/errors.ts';
import { type GitRunner, gitRunner, type PublishResult } from '../../platform/git/index.ts';
import type { GithubApi } from '../../platform/github/client.ts';
import { type RepoContext, readRepoContext } from '../../platform/github/context.ts';
import { type OpenedPullRequest, openPullRequest } from '../../platform/github/pulls.ts';
import { appendJobSummary } from '../../platform/github/summary.ts';
import { mlflowConfigFromEnv } from '../../platform/mlflow/index.ts';
import type { TrainingConfig } from '../../training/config.ts';
import { type Gates, type GatesConfig, loadGatesConfig } from '../promotion/config.ts';
import { evaluateGates, type GateResult, lockDigestVerifier, lockGoldenReader } from '../promotion/gates.ts';
import { publishCandidate } from './candidate.ts';
import { comparisonMarkdown } from './comparison.ts';
import { runComparison } from './comparison-inputs.ts';
import { type TrainAndRecordResult, trainAndRecord } from './train-and-record.ts';

export interface RetrainOptions {
  config: TrainingConfig;
  configPath?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  lockPath: string;
  /** Base branch the retrain branch starts from and the PR targets (default main). */
  base?: string;
  /** New data folder (overrides the config's data.path). */
  dataPath?: string;
  outDir?: string;
  modelName?: string;
  /** Environment compared with, and whose gates decide (default prod). */
  compareEnv?: string;
  /** Promotion gates file (default environments/promotion-gates.json under cwd); absent: accuracy >= prod's. */
  gatesPath?: string;
  /** Why this run started (schedule, drift alert...), for the PR body. */
  reason?: string;
  now?: () => Date;
  log?: (line: string) => void;
  fetch?: typeof fetch;
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
}

export interface RetrainResult {
  branch: string;
  run: TrainAndRecordResult;
  version: string;
  better: boolean;
  /** The promotion gates of the compared environment, evaluated by pipelines/promotion evaluateGates. */
  checks: GateResult[];
  markdown: string;
  publish?: PublishResult;
  pullRequest?: OpenedPullRequest;
}

/**
 * The gates a retrain candidate must pass when the repository has no gates
 * file: accuracy present, and not below the version `env` runs.
 */
export function defaultRetrainGates(env: string): Gates {
  return { metricsPresent: ['accuracy'], maxMetricDrop: [{ metric: 'accuracy', vs: env, margin: 0 }] };
}

/** The retrain branch name: `retrain/<yyyymmdd>-<short sha of the base>`. */
export function retrainBranchName(now: Date, baseSha: string): string {
  return `retrain/${now.toISOString().slice(0, 10).replace(/-/g, '')}-${baseSha.slice(0, 7)}`;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** A retrain resolved from its options once: where it runs, what it compares with, which gates decide. */
interface RetrainRun {
  options: RetrainOptions;
  log: (line: string) => void;
  ctx: RepoContext;
  cwd: string;
  lockPath: string;
  lockRel: string;
  base: string;
  compareEnv: string;
  git: GitRunner;
  gatesPath: string;
  gatesConfig: GatesConfig | undefined;
  /** The gates of `compareEnv` in the gates file; undefined without a file (the default gates apply). */
  configured: Gates | undefined;
}

/** The retrain branch, made from the base, and where the checkout was before it. */
interface RetrainBranch {
  branch: string;
  baseSha: string;
  previous: string;
}

/** Retrain, compare, and open the PR when better; see the module comment. */
export async function retrain(options: RetrainOptions): Promise<RetrainResult> {
  const r = await prepareRetrain(options);
  const b = await startBranch(r);
  const run = await trainOnBranch(r, b);
  const version = run.lockVersion as string;
  const checks = await evaluateCandidate(r, run, version);
  const better = checks.every((c) => c.pass);
  const footer = gateVerdict(r, checks, better);
  const render = () => retrainReport(r, run, version, footer);

  if (!better) {
    const markdown = await render();
    await dropBranch(r, b);
    r.log(`retrain: the candidate is not better than ${r.compareEnv}: no pull request`);
    for (const c of checks.filter((x) => !x.pass))
      r.log(`  failed: ${c.gate} (expected ${c.expected}, got ${c.actual})`);
    await writeSummary(r, markdown);
    return { branch: b.branch, run, version, better, checks, markdown };
  }
  const publish = await publishCandidate({
    git: r.git,
    branch: b.branch,
    lockPath: r.lockPath,
    model: run.modelName,
    entry: run.lockEntry,
    message: retrainCommitMessage(run.modelName, version, run.lockEntry, r.ctx.runUrl),
    push: options.push,
    log: r.log,
  });
  const markdown = await render();
  await writeSummary(r, markdown);
  const pullRequest = await openRetrainPullRequest(r, b.branch, run, version, markdown);
  return { branch: b.branch, run, version, better, checks, markdown, publish, pullRequest };
}

/**
 * Resolve the options, and refuse to start from a lock with uncommitted
 * changes or with a gates file that has no rule for the compared environment.
 */
async function prepareRetrain(options: RetrainOptions): Promise<RetrainRun> {
  const ctx = readRepoContext(options.env);
  const cwd = resolve(options.cwd);
  const lockPath = resolve(cwd, options.lockPath);
  const lockRel = relative(cwd, lockPath);
  const base = options.base ?? 'main';
  const compareEnv = options.compareEnv ?? 'prod';
  const git = gitRunner(cwd, { env: options.env, token: ctx.token, serverUrl: ctx.serverUrl });
  if (await git.run(['status', '--porcelain', '--', ...lockPaths(lockRel)])) {
    throw new ProjectError(
      'USAGE',
      `${lockRel} (or ${lockPaths(lockRel)[1]}/) has uncommitted changes; retrain starts from a clean ${base}`,
      {
        subject: lockRel,
        hint: 'commit or discard the change first',
      },
    );
  }
  const gatesPath = resolve(cwd, options.gatesPath ?? 'environments/promotion-gates.json');
  const gatesConfig = (await exists(gatesPath)) ? await loadGatesConfig(gatesPath) : undefined;
  const configured = gatesConfig?.environments[compareEnv]?.gates;
  if (gatesConfig && !configured) {
    throw new ProjectError('INVALID', `${gatesPath} has no rule for environment "${compareEnv}"`, {
      subject: gatesPath,
      hint: `add environments.${compareEnv} or pass --env with one of ${Object.keys(gatesConfig.environments).join(', ')}`,
    });
  }
  const log = options.log ?? ((l: string) => console.error(l));
  return {
    options,
    log,
    ctx,
    cwd,
    lockPath,
    lockRel,
    base,
    compareEnv,
    git,
    gatesPath,
    gatesConfig,
    configured,
  };
}

/** Fetch the base branch and check out `retrain/<date>-<sha>` at its tip. */
async function startBranch(r: RetrainRun): Promise<RetrainBranch> {
  const { git, base } = r;
  await git.run(['fetch', '--no-tags', 'origin', `+refs/heads/${base}:refs/remotes/origin/${base}`]);
  const baseSha = await git.run(['rev-parse', `refs/remotes/origin/${base}`]);
  const branch = retrainBranchName((r.options.now ?? (() => new Date()))(), baseSha);
  const previous =
    (await git.tryRun(['symbolic-ref', '-q', '--short', 'HEAD'])).stdout.trim() ||
    (await git.run(['rev-parse', 'HEAD']));
  await git.run(['checkout', '-q', '-B', branch, `refs/remotes/origin/${base}`]);
  r.log(`retrain: branch ${branch} from ${base} at ${baseSha.slice(0, 12)}`);
  return { branch, baseSha, previous };
}

/** Back to the checkout before the retrain, the branch and the candidate's version file gone. */
async function dropBranch(r: RetrainRun, b: RetrainBranch): Promise<void> {
  await r.git.run(['checkout', '-q', '-f', b.previous]);
  // The candidate's version file is new (untracked): checkout leaves it; the lock was clean before, so it goes.
  await r.git.run(['clean', '-q', '-f', '--', lockPaths(r.lockRel)[1]]);
  await r.git.run(['branch', '-q', '-D', b.branch]);
}

/** Train and record the candidate on the branch (the branch is dropped when that fails). */
async function trainOnBranch(r: RetrainRun, b: RetrainBranch): Promise<TrainAndRecordResult> {
  const { options } = r;
  try {
    return await trainAndRecord({
      config: options.config,
      env: options.env,
      cwd: r.cwd,
      source: { commit: b.baseSha, branch: b.branch, ...(r.ctx.runUrl ? { runUrl: r.ctx.runUrl } : {}) },
      lockPath: r.lockPath,
      modelName: options.modelName,
      outDir: resolve(r.cwd, options.outDir ?? `artifacts/${options.config.name}-retrain`),
      dataPath: options.dataPath,
      progress: false,
      configPath: options.configPath,
      log: r.log,
      championEnv: r.compareEnv,
    });
  } catch (e) {
    await dropBranch(r, b).catch(() => {});
    throw e;
  }
}

/** The same gate evaluation as a promotion to `compareEnv` (one implementation, pipelines/promotion). */
async function evaluateCandidate(
  r: RetrainRun,
  run: TrainAndRecordResult,
  version: string,
): Promise<GateResult[]> {
  const mlflow = mlflowConfigFromEnv(r.options.env);
  const reading = {
    lockDir: dirname(r.lockPath),
    ...(mlflow ? { mlflow } : {}),
    ...(r.options.fetch ? { fetch: r.options.fetch } : {}),
  };
  return evaluateGates({
    lock: await readLock(r.lockPath),
    model: run.modelName,
    version,
    gates: r.configured ?? defaultRetrainGates(r.compareEnv),
    verifyDigests: lockDigestVerifier(reading),
    readGolden: lockGoldenReader(reading),
  });
}

/** The report's footer: the gates table, why the run started, the workflow run. */
function gateVerdict(r: RetrainRun, checks: GateResult[], better: boolean): string[] {
  const source = r.gatesConfig
    ? `${relative(r.cwd, r.gatesPath)}, environment ${r.compareEnv}`
    : `no gates file: accuracy >= ${r.compareEnv}'s`;
  const verdict = [
    '',
    `**Gates** (${source}): ${better ? 'passed' : 'not passed'}`,
    '',
    '| gate | expected | actual | result |',
    '| --- | --- | --- | --- |',
    ...checks.map((c) => `| ${c.gate} | ${c.expected} | ${c.actual} | ${c.pass ? 'pass' : 'FAIL'} |`),
  ];
  if (r.options.reason) verdict.push('', `Started by: ${r.options.reason}`);
  if (r.ctx.runUrl) verdict.push(`Workflow run: ${r.ctx.runUrl}`);
  return verdict;
}

/** The report: the candidate beside the version pinned in `compareEnv` (in the lock as it is now), the gates below. */
async function retrainReport(
  r: RetrainRun,
  run: TrainAndRecordResult,
  version: string,
  footer: string[],
): Promise<string> {
  const comparison = await runComparison({
    run,
    version,
    lock: await readLock(r.lockPath),
    lockPath: r.lockPath,
    compareEnv: r.compareEnv,
    cwd: r.cwd,
    gatesConfig: r.gatesConfig,
    gatesPath: r.gatesPath,
    env: r.options.env,
    fetch: r.options.fetch,
  });
  return comparisonMarkdown({
    ...comparison,
    title: `Retraining: \`${run.modelName}\` candidate ${version}`,
    footer,
  });
}

async function writeSummary(r: RetrainRun, markdown: string): Promise<void> {
  if (r.options.env.GITHUB_STEP_SUMMARY) await appendJobSummary(r.options.env.GITHUB_STEP_SUMMARY, markdown);
}

/** The commit message of a retrain candidate: subject, blank line, trailers. */
function retrainCommitMessage(model: string, version: string, entry: LockedVersion, runUrl?: string): string {
  return `retrain: ${model}@${version} candidate (accuracy ${entry.metrics.accuracy?.toFixed(4) ?? 'n/a'})\n\nModel-Version: ${model}@${version}\nModel-Root-Digest: ${entry.rootDigest}\n${runUrl ? `Workflow-Run: ${runUrl}\n` : ''}`;
}

/** Open (or update) the pull request labelled "retrain" with the report as its body. */
async function openRetrainPullRequest(
  r: RetrainRun,
  branch: string,
  run: TrainAndRecordResult,
  version: string,
  markdown: string,
): Promise<OpenedPullRequest> {
  const { ctx, compareEnv } = r;
  const model = run.modelName;
  const lock = await readLock(r.lockPath);
  const api: GithubApi = { token: ctx.token, apiUrl: ctx.apiUrl, owner: ctx.owner, repo: ctx.repo };
  const prod = lock.models[model]?.pins[compareEnv];
  const accuracy = run.lockEntry.metrics.accuracy?.toFixed(4) ?? 'n/a';
  const pr = await openPullRequest(api, {
    head: branch,
    base: r.base,
    title: `retrain: ${model}@${version} (accuracy ${accuracy}${prod ? ` vs ${compareEnv} ${prod}` : ''})`,
    body: markdown,
    labels: ['retrain'],
  });
  r.log(`retrain: pull request #${pr.number} ${pr.created ? 'opened' : 'updated'}: ${pr.url}`);
  return pr;
}

export interface DriftCheck {
  prometheus: PrometheusConfig;
  /** The alerts that mean drift (default monitoring/alert-relay DRIFT_ALERTS). */
  alertNames?: readonly string[];
  fetch?: typeof fetch;
}

export interface RetrainIfDriftResult {
  /** The drift alerts firing (their labels); empty: nothing was trained. */
  firing: Record<string, string>[];
  result?: RetrainResult;
}

/**
 * The scheduled retrain: ask Prometheus whether a drift alert fires
 * (`ALERTS{alertstate="firing"}`, monitoring/prometheus-api.ts) and retrain
 * only then, naming the alerts as the reason. A Prometheus that does not answer
 * is an error (UNAVAILABLE), never read as "no drift".
 */
export async function retrainIfDrift(
  options: RetrainOptions & { drift: DriftCheck },
): Promise<RetrainIfDriftResult> {
  const log = options.log ?? ((l: string) => console.error(l));
  const names = options.drift.alertNames ?? DRIFT_ALERTS;
  const firing = await firingAlerts(options.drift.prometheus, names, {
    ...(options.drift.fetch ? { fetch: options.drift.fetch } : {}),
  });
  if (firing.length === 0) {
    log(
      `retrain: no drift alert firing on ${options.drift.prometheus.url} (${names.join(', ')}): nothing to retrain`,
    );
    return { firing };
  }
  const what = firing.map(describeAlert);
  log(`retrain: drift alert(s) firing: ${what.join('; ')}`);
  const reason = `drift alert(s) firing on ${options.drift.prometheus.url}: ${what.join('; ')}`;
  return { firing, result: await retrain({ ...options, reason }) };
}
