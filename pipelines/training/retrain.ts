/**
 * Continuous training (drift.yml → `npm run retrain`): on a branch
 * `retrain/<date>-<short sha>` from the base branch, run the same train +
 * lock path as a human PR (pipelines/training), compare the candidate with the
 * version pinned in prod under the promotion gates
 * (environments/promotion-gates.json when present, else accuracy >= prod's),
 * and when it is better push the branch and open a pull request labelled
 * "retrain" with the comparison: merging it promotes the candidate through
 * the usual promote.yml. When it is not better, say why, delete the branch
 * and open nothing. With `dataFromFeedback`, the branch first gets the next
 * dataset (pipelines/flywheel: the config's data pointer plus the labelled
 * captured images in the object store), so the candidate trains on it and
 * the PR changes the pointer. See docs/ci-training.md.
 */
import { access } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { type Lock, lockPaths, readLock } from '../../lock/index.ts';
import { DRIFT_ALERTS } from '../../monitoring/alert-relay.ts';
import { describeAlert, firingAlerts, type PrometheusConfig } from '../../monitoring/prometheus-api.ts';
import { ProjectError } from '../../platform/errors.ts';
import { type GitRunner, gitRunner, type PublishResult } from '../../platform/git/index.ts';
import type { GithubApi } from '../../platform/github/client.ts';
import { type RepoContext, readRepoContext } from '../../platform/github/context.ts';
import { type OpenedPullRequest, openPullRequest } from '../../platform/github/pulls.ts';
import { appendJobSummary } from '../../platform/github/summary.ts';
import { mlflowConfigFromEnv } from '../../platform/mlflow/index.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../platform/object-store/index.ts';
import type { TrainingConfig } from '../../training/config.ts';
import { datasetFromFeedback, type FromFeedbackResult, summarizeFromFeedback } from '../flywheel/index.ts';
import { type Gates, type GatesConfig, loadGatesConfig } from '../promotion/config.ts';
import { evaluateGates, type GateResult, lockDigestVerifier, lockGoldenReader } from '../promotion/gates.ts';
import { publishCandidate } from './candidate.ts';
import { comparisonMarkdown } from './comparison.ts';
import { candidateSide, pinnedSide, trackingLinks } from './comparison-inputs.ts';
import { pairedPolicyOf, pairedSection, readLocalGolden } from './paired.ts';
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
  /**
   * First build the next dataset from the config's data pointer and the labels
   * in the object store (the environment's OBJECT_STORE_*), and train on it: the
   * PR then changes the pointer. `since`: only labels recorded since then.
   */
  dataFromFeedback?: boolean | { since?: Date };
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
  /** What the flywheel step did (with `dataFromFeedback`). */
  flywheel?: FromFeedbackResult;
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

/** Retrain, compare, and open the PR when better; see the module comment. */
export async function retrain(options: RetrainOptions): Promise<RetrainResult> {
  const r = await startRetrain(options);
  const flywheel = options.dataFromFeedback ? flywheelInputs(options, r.cwd) : undefined;
  const { branch, baseSha, dropBranch } = await checkoutRetrainBranch(r);
  let run: TrainAndRecordResult;
  let fed: FromFeedbackResult | undefined;
  try {
    if (flywheel) fed = await nextDataset(r, flywheel);
    run = await trainAndRecord({
      config: options.config,
      env: options.env,
      cwd: r.cwd,
      source: { commit: baseSha, branch, ...(r.ctx.runUrl ? { runUrl: r.ctx.runUrl } : {}) },
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
    await dropBranch().catch(() => {});
    throw e;
  }
  const version = run.lockVersion as string;
  const lock = await readLock(r.lockPath);
  const checks = await candidateChecks(r, lock, run.modelName, version);
  const better = checks.every((c) => c.pass);
  const candidate: Candidate = {
    branch,
    run,
    version,
    checks,
    verdict: verdictLines(
      r,
      checks,
      better,
      fed && flywheel ? { fed, pointerPath: flywheel.pointerPath } : undefined,
    ),
    fed,
  };
  if (!better) return notBetter(r, candidate, lock, dropBranch);
  return proposeCandidate(
    r,
    candidate,
    fed?.pointer && flywheel ? relative(r.cwd, flywheel.pointerPath) : undefined,
  );
}

/** What the steps of one retrain share: its options, the repository, its lock, git, and the gates it is judged by. */
interface RetrainRun {
  options: RetrainOptions;
  log: (line: string) => void;
  ctx: RepoContext;
  cwd: string;
  lockPath: string;
  /** The lock's path relative to the repository. */
  lockRel: string;
  /** The base branch. */
  base: string;
  /** The environment compared with. */
  compareEnv: string;
  git: GitRunner;
  gatesPath: string;
  /** The gates file, when the repository has one. */
  gatesConfig: GatesConfig | undefined;
  /** The gates of `compareEnv`: the file's, else {@link defaultRetrainGates}. */
  gates: Gates;
}

/**
 * The retrain's setting, checked before anything changes: the lock has no
 * uncommitted change (USAGE), and the gates file, when there is one, has a
 * rule for the compared environment (INVALID).
 */
async function startRetrain(options: RetrainOptions): Promise<RetrainRun> {
  const log = options.log ?? ((l: string) => console.error(l));
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
  const gates = configured ?? defaultRetrainGates(compareEnv);
  return { options, log, ctx, cwd, lockPath, lockRel, base, compareEnv, git, gatesPath, gatesConfig, gates };
}

/**
 * The retrain branch, checked out from the base branch as the remote has it;
 * `dropBranch` goes back to where the checkout was and deletes it, with the
 * candidate's new (untracked) version file.
 */
async function checkoutRetrainBranch(
  r: RetrainRun,
): Promise<{ branch: string; baseSha: string; dropBranch: () => Promise<void> }> {
  const { git, base, lockRel } = r;
  await git.run(['fetch', '--no-tags', 'origin', `+refs/heads/${base}:refs/remotes/origin/${base}`]);
  const baseSha = await git.run(['rev-parse', `refs/remotes/origin/${base}`]);
  const branch = retrainBranchName((r.options.now ?? (() => new Date()))(), baseSha);
  const previous =
    (await git.tryRun(['symbolic-ref', '-q', '--short', 'HEAD'])).stdout.trim() ||
    (await git.run(['rev-parse', 'HEAD']));
  await git.run(['checkout', '-q', '-B', branch, `refs/remotes/origin/${base}`]);
  r.log(`retrain: branch ${branch} from ${base} at ${baseSha.slice(0, 12)}`);
  const dropBranch = async () => {
    await git.run(['checkout', '-q', '-f', previous]);
    // The candidate's version file is new (untracked): checkout leaves it; the lock was clean before, so it goes.
    await git.run(['clean', '-q', '-f', '--', lockPaths(lockRel)[1]]);
    await git.run(['branch', '-q', '-D', branch]);
  };
  return { branch, baseSha, dropBranch };
}

/** The flywheel step: the next dataset from the config's pointer and the model's labels in the store, logged. */
async function nextDataset(r: RetrainRun, flywheel: FlywheelInputs): Promise<FromFeedbackResult> {
  const { options, log } = r;
  const store = createObjectStore(flywheel.store);
  let fed: FromFeedbackResult;
  try {
    fed = await datasetFromFeedback({
      pointerPath: flywheel.pointerPath,
      store,
      bucket: flywheel.bucket,
      model: options.modelName ?? options.config.name,
      ...(flywheel.since ? { since: flywheel.since } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      log,
    });
  } finally {
    store.close();
  }
  log(`retrain: ${summarizeFromFeedback(fed)}`);
  log(
    fed.pointer
      ? `retrain: training on the next dataset ${fed.pointer.digest} (${relative(r.cwd, flywheel.pointerPath)})`
      : `retrain: no new labelled images: training on the pinned data ${fed.base.digest}`,
  );
  return fed;
}

/** The same gate evaluation as a promotion to the compared environment (one implementation, pipelines/promotion). */
async function candidateChecks(
  r: RetrainRun,
  lock: Lock,
  model: string,
  version: string,
): Promise<GateResult[]> {
  const mlflow = mlflowConfigFromEnv(r.options.env);
  const readers = {
    lockDir: dirname(r.lockPath),
    ...(mlflow ? { mlflow } : {}),
    ...(r.options.fetch ? { fetch: r.options.fetch } : {}),
  };
  return evaluateGates({
    lock,
    model,
    version,
    gates: r.gates,
    verifyDigests: lockDigestVerifier(readers),
    readGolden: lockGoldenReader(readers),
  });
}

/** The comparison's footer: the gates' verdict as a table, the data the candidate trained on, why the run started. */
function verdictLines(
  r: RetrainRun,
  checks: GateResult[],
  better: boolean,
  data: { fed: FromFeedbackResult; pointerPath: string } | undefined,
): string[] {
  const { cwd, compareEnv } = r;
  const verdict = [
    '',
    `**Gates** (${r.gatesConfig ? `${relative(cwd, r.gatesPath)}, environment ${compareEnv}` : `no gates file: accuracy >= ${compareEnv}'s`}): ${better ? 'passed' : 'not passed'}`,
    '',
    '| gate | expected | actual | result |',
    '| --- | --- | --- | --- |',
    ...checks.map((c) => `| ${c.gate} | ${c.expected} | ${c.actual} | ${c.pass ? 'pass' : 'FAIL'} |`),
  ];
  if (data) {
    const { fed } = data;
    const rel = relative(cwd, data.pointerPath);
    verdict.push(
      '',
      fed.pointer
        ? `**Data**: \`${rel}\` now names ${fed.pointer.uri}, dataset digest ${fed.pointer.digest} (was ${fed.base.digest}): ${summarizeFromFeedback(fed)}`
        : `**Data**: \`${rel}\` unchanged (${fed.base.digest}): no new labelled images (${summarizeFromFeedback(fed)})`,
    );
  }
  if (r.options.reason) verdict.push('', `Started by: ${r.options.reason}`);
  if (r.ctx.runUrl) verdict.push(`Workflow run: ${r.ctx.runUrl}`);
  return verdict;
}

/** A trained and judged candidate, on its branch. */
interface Candidate {
  branch: string;
  run: TrainAndRecordResult;
  version: string;
  checks: GateResult[];
  /** The comparison's footer ({@link verdictLines}). */
  verdict: string[];
  fed: FromFeedbackResult | undefined;
}

/** The comparison of the candidate with the version `lock` pins in the compared environment, as Markdown. */
async function renderComparison(r: RetrainRun, c: Candidate, lock: Lock): Promise<string> {
  const { cwd, compareEnv } = r;
  const { run, version } = c;
  const model = run.modelName;
  return comparisonMarkdown({
    model,
    title: `Retraining: \`${model}\` candidate ${version}`,
    candidate: await candidateSide(version, run.lockEntry, run.train.artifactDir),
    prod: await pinnedSide(lock, model, compareEnv, {
      lockDir: dirname(r.lockPath),
      env: r.options.env,
      fetch: r.options.fetch,
    }),
    prodEnv: compareEnv,
    paired: pairedSection(
      await readLocalGolden(run.train.artifactDir),
      compareEnv,
      lock.models[model]?.pins[compareEnv],
      pairedPolicyOf(r.gatesConfig, compareEnv, relative(cwd, r.gatesPath)),
    ),
    ...trackingLinks(run.tracking, run.trackingUri, relative(cwd, run.train.artifactDir)),
    footer: c.verdict,
  });
}

/** A candidate that did not pass: its branch dropped, the failed gates logged, the comparison in the job summary; no PR. */
async function notBetter(
  r: RetrainRun,
  c: Candidate,
  lock: Lock,
  dropBranch: () => Promise<void>,
): Promise<RetrainResult> {
  const markdown = await renderComparison(r, c, lock);
  await dropBranch();
  r.log(`retrain: the candidate is not better than ${r.compareEnv}: no pull request`);
  for (const g of c.checks.filter((check) => !check.pass))
    r.log(`  failed: ${g.gate} (expected ${g.expected}, got ${g.actual})`);
  if (r.options.env.GITHUB_STEP_SUMMARY) await appendJobSummary(r.options.env.GITHUB_STEP_SUMMARY, markdown);
  const { branch, run, version, checks, fed } = c;
  return { branch, run, version, better: false, checks, markdown, ...(fed ? { flywheel: fed } : {}) };
}

/**
 * A candidate that passed: committed (with the new data pointer, when the
 * flywheel made one) and pushed on its branch, the comparison in the job
 * summary, and a pull request labelled "retrain" opened (or updated).
 */
async function proposeCandidate(
  r: RetrainRun,
  c: Candidate,
  pointerRel: string | undefined,
): Promise<RetrainResult> {
  const { ctx, compareEnv, log } = r;
  const { branch, run, version, fed } = c;
  const model = run.modelName;
  const entry = run.lockEntry;
  const accuracy = entry.metrics.accuracy?.toFixed(4) ?? 'n/a';
  const publish = await publishCandidate({
    git: r.git,
    branch,
    lockPath: r.lockPath,
    model,
    entry,
    message: `retrain: ${model}@${version} candidate (accuracy ${accuracy})${fed?.pointer ? `, data ${fed.pointer.digest}` : ''}\n\nModel-Version: ${model}@${version}\nModel-Root-Digest: ${entry.rootDigest}\n${ctx.runUrl ? `Workflow-Run: ${ctx.runUrl}\n` : ''}`,
    ...(pointerRel !== undefined ? { extraPaths: [pointerRel] } : {}),
    push: r.options.push,
    log,
  });
  const lock = await readLock(r.lockPath);
  const markdown = await renderComparison(r, c, lock);
  if (r.options.env.GITHUB_STEP_SUMMARY) await appendJobSummary(r.options.env.GITHUB_STEP_SUMMARY, markdown);
  const api: GithubApi = { token: ctx.token, apiUrl: ctx.apiUrl, owner: ctx.owner, repo: ctx.repo };
  const prod = lock.models[model]?.pins[compareEnv];
  const pr = await openPullRequest(api, {
    head: branch,
    base: r.base,
    title: `retrain: ${model}@${version} (accuracy ${accuracy}${prod ? ` vs ${compareEnv} ${prod}` : ''})`,
    body: markdown,
    labels: ['retrain'],
  });
  log(`retrain: pull request #${pr.number} ${pr.created ? 'opened' : 'updated'}: ${pr.url}`);
  return {
    branch,
    run,
    version,
    better: true,
    checks: c.checks,
    markdown,
    publish,
    pullRequest: pr,
    ...(fed ? { flywheel: fed } : {}),
  };
}

/** What the flywheel step needs: the config's data pointer (absolute), the object store, its bucket, since when. */
type FlywheelInputs = ReturnType<typeof flywheelInputs>;

/** What the flywheel step needs, checked before any branch is made: the config's pointer and a store with a bucket. */
function flywheelInputs(options: RetrainOptions, cwd: string) {
  const pointer = options.config.data.pointer;
  if (!pointer) {
    throw new ProjectError(
      'USAGE',
      `--data-from-feedback needs a training config whose data comes through a data pointer (data.pointer), and ${options.configPath ?? options.config.name} has none`,
      {
        subject: 'data.pointer',
        hint: 'point the config at data/<name>.json (docs/data.md), or retrain without --data-from-feedback',
      },
    );
  }
  const store = objectStoreConfigFromEnv(options.env);
  if (!store?.bucket) {
    throw new ProjectError(
      'USAGE',
      `--data-from-feedback reads labels and captured images from the object store, and ${store ? 'OBJECT_STORE_BUCKET is not set' : 'none is configured'}`,
      {
        subject: 'OBJECT_STORE_BUCKET',
        hint: 'set OBJECT_STORE_ENDPOINT, OBJECT_STORE_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (drift.yml passes the repository variables and secrets)',
      },
    );
  }
  const since = typeof options.dataFromFeedback === 'object' ? options.dataFromFeedback.since : undefined;
  return { pointerPath: resolve(cwd, pointer), store, bucket: store.bucket, since };
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
