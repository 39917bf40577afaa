/**
 * What a comparison report (./comparison.ts) is made of, gathered: its two
 * sides, the candidate (its artifact folder is here) and the version pinned
 * in prod (its metrics.json fetched through platform/artifact-store from the
 * lock's artifactUri, sha256-checked), and the links to the candidate's
 * MLflow run and plots. A prod artifact that cannot be fetched is said in the
 * report, never a failure.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { Lock, LockedVersion } from '../../lock/index.ts';
import { downloadArtifact } from '../../platform/artifact-store/index.ts';
import { mlflowConfigFromEnv } from '../../platform/mlflow/index.ts';
import { safeUrl } from '../../platform/redact.ts';
import type { TrackingResult } from '../../training/tracking/index.ts';
import type { GatesConfig } from '../promotion/config.ts';
import type { ComparisonInput, MetricsJson, ReportLink, ReportSide } from './comparison.ts';
import { pairedPolicyOf, pairedSection, readLocalGolden } from './paired.ts';
import type { TrainAndRecordResult } from './train-and-record.ts';

const PLOTS = [
  { file: 'confusion-matrix.png', label: 'confusion matrix' },
  { file: 'learning-curves.png', label: 'learning curves' },
];

async function readMetricsJson(path: string): Promise<MetricsJson> {
  const m = JSON.parse(await readFile(path, 'utf8')) as MetricsJson;
  if (!Array.isArray(m.labels) || typeof m.per_class !== 'object' || m.per_class === null) {
    throw new Error(`${path} has no labels/per_class`);
  }
  return m;
}

/** The candidate side: its lock entry and the metrics.json of its local artifact folder. */
export async function candidateSide(
  version: string,
  entry: LockedVersion,
  artifactDir: string,
): Promise<ReportSide> {
  try {
    return { version, entry, metricsJson: await readMetricsJson(join(artifactDir, 'metrics.json')) };
  } catch (e) {
    return { version, entry, unavailable: (e as Error).message };
  }
}

export interface PinnedSideOptions {
  /** Folder relative artifact URIs are resolved against (the lock file's folder). */
  lockDir: string;
  /** MLFLOW_TRACKING_URI / _TOKEN for `mlflow-artifacts:` URIs. */
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

/** The version of `model` pinned in `envName`, with its metrics.json when it can be fetched; undefined when none. */
export async function pinnedSide(
  lock: Lock,
  model: string,
  envName: string,
  options: PinnedSideOptions,
): Promise<ReportSide | undefined> {
  const version = lock.models[model]?.pins[envName];
  const entry = version === undefined ? undefined : lock.models[model]?.versions[version];
  if (version === undefined || !entry) return undefined;
  const digest = entry.digests['metrics.json'];
  if (!digest) return { version, entry, unavailable: `the lock entry lists no metrics.json` };
  const dir = await mkdtemp(join(tmpdir(), 'prod-metrics-'));
  try {
    const mlflow = mlflowConfigFromEnv(options.env);
    await downloadArtifact(entry.artifactUri, { 'metrics.json': digest }, dir, {
      baseDir: options.lockDir,
      mlflow,
      timeoutMs: 30_000,
      fetch: options.fetch,
    });
    return { version, entry, metricsJson: await readMetricsJson(join(dir, 'metrics.json')) };
  } catch (e) {
    return {
      version,
      entry,
      unavailable: `${safeUrl(entry.artifactUri)}: ${(e as Error).message.split('\n')[0]}`,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface TrackingLinks {
  runLink?: ReportLink;
  plots: ReportLink[];
  plotsNote?: string;
}

/**
 * Links to the MLflow run and its plots when the run reached a server
 * (`<tracking>/#/experiments/<id>/runs/<run>`, and the files through the
 * artifact proxy); for a local run, where the plots are instead: a PR
 * comment cannot embed files from the runner. `trackingUri` is the
 * tracking server's clean URL (TrainAndRecordResult.trackingUri, never the
 * raw MLFLOW_TRACKING_URI); credentials are stripped again here all the same.
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/artifact-store/
 */
export function trackingLinks(
  tracking: TrackingResult,
  trackingUri: string | undefined,
  artifactDir: string,
): TrackingLinks {
  const m = /^mlflow-artifacts:\/*([^/]+)\/([^/]+)\/artifacts\/?$/.exec(tracking.artifactUri);
  if (tracking.offline || !trackingUri || !m) {
    return {
      plots: [],
      plotsNote: `\`${PLOTS.map((p) => p.file).join('`, `')}\` in the artifact folder \`${artifactDir}\` (the run was tracked in the local store, so there is no link; upload it with \`npm run upload-runs\`)`,
    };
  }
  const base = safeUrl(trackingUri).replace(/\/+$/, '');
  const [, expId, runId] = m;
  return {
    runLink: { label: `MLflow run ${runId}`, url: `${base}/#/experiments/${expId}/runs/${runId}` },
    plots: PLOTS.map((p) => ({
      label: p.label,
      url: `${base}/api/2.0/mlflow-artifacts/artifacts/${expId}/${runId}/artifacts/model/${p.file}`,
    })),
  };
}

export interface RunComparisonOptions {
  run: TrainAndRecordResult;
  /** The candidate's version id in the lock. */
  version: string;
  /** The lock as it is now (the pinned side is read from it). */
  lock: Lock;
  lockPath: string;
  /** The environment compared with. */
  compareEnv: string;
  /** Paths in the report are relative to it. */
  cwd: string;
  /** The promotion gates (their pairedNonInferiority margin and level), when the file exists. */
  gatesConfig: GatesConfig | undefined;
  gatesPath: string;
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

/**
 * The report of a trained candidate beside the version pinned in
 * `compareEnv`, as ci:train and retrain both write it: the two sides, the
 * paired golden-set section and the tracking links (the caller adds its
 * title and footer).
 */
export async function runComparison(o: RunComparisonOptions): Promise<ComparisonInput> {
  const { run, lock, compareEnv } = o;
  const model = run.modelName;
  const artifactDir = run.train.artifactDir;
  const candidate = await candidateSide(o.version, run.lockEntry, artifactDir);
  const prod = await pinnedSide(lock, model, compareEnv, {
    lockDir: dirname(o.lockPath),
    env: o.env,
    fetch: o.fetch,
  });
  const paired = pairedSection(
    await readLocalGolden(artifactDir),
    compareEnv,
    lock.models[model]?.pins[compareEnv],
    pairedPolicyOf(o.gatesConfig, compareEnv, relative(o.cwd, o.gatesPath)),
  );
  const links = trackingLinks(run.tracking, run.trackingUri, relative(o.cwd, artifactDir));
  return {
    model,
    candidate,
    prod,
    paired,
    prodEnv: compareEnv,
    runLink: links.runLink,
    plots: links.plots,
    plotsNote: links.plotsNote,
  };
}
