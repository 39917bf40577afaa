/**
 * Where a pull request's lock entries came from. Before, nothing checked it:
 * a hand-edited entry with correct digests of an attacker's model and
 * accuracy 0.99 reached dev after merge. The check compares the pull
 * request's lock with its base:
 *
 * - an existing version edited or removed, the promotion history rewritten
 *   or appended to, or a pin moved: refused (versions are immutable, appendOnlyProblems;
 *   pins move only through promote.yml, behind the environments' gates and
 *   reviewers);
 * - an added version must be the tracking server's record: its MLflow run
 *   exists and FINISHED, every `test_<name>` metric of the run equals the
 *   entry's `metrics.<name>` (both ways), the run's source commit and dataset
 *   digest tags equal `gitCommit` and `datasetDigest`, a registered
 *   `mlflow.modelVersion` belongs to that run, `artifactUri` lies under the
 *   run's artifact URI, and every file there has the entry's digest
 *   (verifyLock: fetched through platform/artifact-store, sha256-checked);
 * - the artifact's origin is the tracking server's, or one listed in
 *   environments/artifact-origins.json; a local entry (no run id, or a local
 *   artifact folder) only where that file allows them.
 *
 * Written against the lock API (appendOnlyProblems, diffLocks, verifyLock),
 * not against the format of version ids.
 */

import type { SigningPolicy } from '../model/signing/policy.ts';
import { signatureRefusal, type VerifyOptions, verifyModelSignature } from '../model/signing/verify.ts';
import { type ArtifactStoreOptions, resolveArtifactLocation } from '../platform/artifact-store/index.ts';
import { isProjectError } from '../platform/errors.ts';
import { readJsonFile } from '../platform/fs.ts';
import { MlflowClient } from '../platform/mlflow/client.ts';
import { httpOptionsOf, type MlflowConfig } from '../platform/mlflow/config.ts';
import type { Run } from '../platform/mlflow/types.ts';
import type { ObjectStore } from '../platform/object-store/index.ts';
import { redactText } from '../platform/redact.ts';
import { compileValidator } from '../platform/schema.ts';
import { diffLocks } from './diff.ts';
import { appendOnlyProblems } from './mutate.ts';
import type { Lock, LockedVersion } from './types.ts';
import { verifyLock } from './verify.ts';

/** The allowed artifact origins of new lock entries (environments/artifact-origins.json). */
export interface ArtifactOrigins {
  /** Origins (`https://host[:port]`, or an object store bucket `s3://bucket`) besides the tracking server's that may hold artifacts. */
  origins: string[];
  /** Whether a pull request may add a local entry (no MLflow run, or a local artifact folder). */
  allowLocalEntries: boolean;
}

export const ARTIFACT_ORIGINS_FILE = 'environments/artifact-origins.json';

const parseOrigins = compileValidator<ArtifactOrigins & { $comment?: string }>({
  type: 'object',
  additionalProperties: false,
  required: ['origins', 'allowLocalEntries'],
  properties: {
    $comment: { type: 'string' },
    origins: {
      type: 'array',
      uniqueItems: true,
      // An origin: scheme and host[:port], no credentials, no path (https://html.spec.whatwg.org/#origin);
      // or a bucket of the object store, s3://<bucket>.
      items: {
        type: 'string',
        pattern: '^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$',
      },
    },
    allowLocalEntries: { type: 'boolean' },
  },
});

/** Read and validate the allowed origins; a missing file means none besides the tracking server, no local entries. */
export async function loadArtifactOrigins(path: string): Promise<ArtifactOrigins> {
  let raw: unknown;
  try {
    raw = await readJsonFile(path);
  } catch (e) {
    if (isProjectError(e) && e.code === 'NOT_FOUND') return { origins: [], allowLocalEntries: false };
    throw e;
  }
  const { origins, allowLocalEntries } = parseOrigins(raw, path);
  return { origins, allowLocalEntries };
}

export interface ProvenanceProblem {
  model: string;
  version: string;
  /** The entry's field the problem is about (`metrics.accuracy`, `digests["model.json"]`, `artifactUri`...). */
  field: string;
  message: string;
}

export interface ProvenanceReport {
  ok: boolean;
  /** Versions the head adds, each checked. */
  added: { model: string; version: string; ok: boolean }[];
  problems: ProvenanceProblem[];
}

export interface ProvenanceOptions {
  /** The tracking server (MLFLOW_TRACKING_URI + credentials); without it, no added run can be checked. */
  mlflow?: MlflowConfig;
  origins: ArtifactOrigins;
  /** The lock file's folder (relative artifact URIs). */
  lockDir: string;
  fetch?: typeof fetch;
  /** The object store, for `s3://` artifact URIs (an allowed `s3://<bucket>` origin). */
  objectStore?: ObjectStore;
  /** Per-file timeout of artifact fetches. */
  timeoutMs?: number;
  /**
   * Print what the tracking server holds (the run's metrics, commit, dataset,
   * artifact root, another run's id) in the problems. Off by default: the
   * check runs for fork pull requests and its log is public, while the
   * tracking server is private (`--show-tracking-values` where the output stays private).
   */
  revealTrackingValues?: boolean;
  /** Most versions one pull request may add (default {@link MAX_ADDED_VERSIONS}); past it none is looked up. */
  maxAdded?: number;
  /**
   * Check each added version's signature against this policy (the BASE's:
   * a pull request cannot trust a key of its own making) (docs/signing.md):
   * a present signature must verify; with `require`, a missing one is a
   * problem too.
   */
  signing?: { policy: SigningPolicy; require: boolean; verify?: VerifyOptions };
}

/** A training pull request adds one version; past this many, the check refuses without asking the tracking server. */
export const MAX_ADDED_VERSIONS = 5;

const SAME = (a: number, b: number) =>
  a === b || Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a), Math.abs(b));
const trim = (s: string) => s.replace(/\/+$/, '');
const bare = (digest: string) => digest.replace(/^sha256:/, '');

/** The tag `key` of a run, if set. */
function tagOf(run: Run, key: string): string | undefined {
  return run.data.tags?.find((t) => t.key === key)?.value;
}

/** Problems of one added entry about where its artifact lives (no network). */
function originProblems(
  entry: LockedVersion,
  options: ProvenanceOptions,
  store: ArtifactStoreOptions,
): [string, string][] {
  const out: [string, string][] = [];
  const local =
    'a pull request may add only versions tracked on the MLflow server; train it in CI (train.yml), or allow local entries in';
  if (entry.mlflow.runId === null && !options.origins.allowLocalEntries) {
    out.push(['mlflow.runId', `is null (a run in the local store): ${local} ${ARTIFACT_ORIGINS_FILE}`]);
  }
  let where: ReturnType<typeof resolveArtifactLocation>;
  try {
    where = resolveArtifactLocation(entry.artifactUri, store);
  } catch (e) {
    if (!isProjectError(e)) throw e;
    out.push(['artifactUri', e.message.split('\n')[0] as string]);
    return out;
  }
  if (where.kind === 'local') {
    if (!options.origins.allowLocalEntries) {
      out.push([
        'artifactUri',
        `${redactText(entry.artifactUri)} is a local folder: ${local} ${ARTIFACT_ORIGINS_FILE}`,
      ]);
    }
    return out;
  }
  const origin = where.kind === 's3' ? `s3://${where.bucket}` : new URL(where.baseUrl).origin;
  const tracking = options.mlflow ? new URL(options.mlflow.trackingUri).origin : undefined;
  if (origin !== tracking && !options.origins.origins.includes(origin)) {
    out.push([
      'artifactUri',
      `origin ${origin} is not allowed (the tracking server ${tracking ?? '(MLFLOW_TRACKING_URI not set)'}, or ${ARTIFACT_ORIGINS_FILE} origins: ${options.origins.origins.join(', ') || 'none'})`,
    ]);
  }
  const recorded = entry.mlflow.trackingUri;
  if (recorded && tracking && new URL(recorded).origin !== tracking) {
    out.push(['mlflow.trackingUri', `${redactText(recorded)} is not the tracking server ${tracking}`]);
  }
  return out;
}

/** Problems of one added entry against its MLflow run. */
async function runProblems(
  model: string,
  entry: LockedVersion,
  client: MlflowClient,
  reveal: boolean,
): Promise<[string, string][]> {
  const runId = entry.mlflow.runId as string;
  const out: [string, string][] = [];
  /** What the tracking server holds, shown only when revealed (the log may be public). */
  const theirs = (value: unknown) => (reveal ? ` (${String(value)})` : '');
  let run: Run;
  try {
    run = await client.getRun(runId);
  } catch (e) {
    if (isProjectError(e) && (e.code === 'NOT_FOUND' || e.code === 'INVALID')) {
      return [
        ['mlflow.runId', `run ${runId} does not exist on the tracking server${theirs(client.trackingUri)}`],
      ];
    }
    throw e;
  }
  if (run.info.status !== 'FINISHED')
    out.push(['mlflow.runId', `run ${runId} is ${run.info.status}, not FINISHED`]);
  // The run logs metrics.json's top-level numbers as test_<name> (training/tracking/callbacks.ts).
  const logged = new Map<string, number>();
  for (const m of run.data.metrics ?? []) if (m.key.startsWith('test_')) logged.set(m.key.slice(5), m.value);
  for (const name of [...new Set([...Object.keys(entry.metrics), ...logged.keys()])].sort()) {
    const mine = entry.metrics[name];
    const value = logged.get(name);
    if (value === undefined)
      out.push([`metrics.${name}`, `is ${mine}, but run ${runId} logged no test_${name}`]);
    else if (mine === undefined)
      out.push([`metrics.${name}`, `is missing, but run ${runId} logged test_${name}${theirs(value)}`]);
    else if (!SAME(mine, value))
      out.push([
        `metrics.${name}`,
        `is ${mine}, but run ${runId} logged another test_${name}${theirs(value)}`,
      ]);
  }
  const commit = tagOf(run, 'mlflow.source.git.commit');
  if (commit && entry.gitCommit && commit !== entry.gitCommit) {
    out.push([
      'gitCommit',
      `is ${entry.gitCommit}, but run ${runId} was trained from another commit${theirs(commit)}`,
    ]);
  }
  const dataset = tagOf(run, 'dataset.digest');
  if (dataset && bare(dataset) !== bare(entry.datasetDigest)) {
    out.push([
      'datasetDigest',
      `is ${entry.datasetDigest}, but run ${runId} trained on another dataset${theirs(dataset)}`,
    ]);
  }
  const root = trim(run.info.artifact_uri);
  if (trim(entry.artifactUri) !== root && !entry.artifactUri.startsWith(`${root}/`)) {
    out.push([
      'artifactUri',
      `${redactText(entry.artifactUri)} is not under run ${runId}'s artifact URI${theirs(root)}`,
    ]);
  }
  if (entry.mlflow.modelVersion) {
    try {
      const mv = await client.getModelVersion(model, entry.mlflow.modelVersion);
      if (mv.run_id !== runId) {
        out.push([
          'mlflow.modelVersion',
          `registered ${model} version ${entry.mlflow.modelVersion} belongs to another run, not ${runId}${theirs(mv.run_id ?? '(none)')}`,
        ]);
      }
    } catch (e) {
      if (!isProjectError(e) || (e.code !== 'NOT_FOUND' && e.code !== 'INVALID')) throw e;
      out.push([
        'mlflow.modelVersion',
        `registered model ${model} has no version ${entry.mlflow.modelVersion}`,
      ]);
    }
  }
  return out;
}

/** A problem of `field` of a version (or of a model, `version` empty), its message naming all three. */
function problem(model: string, version: string, field: string, what: string): ProvenanceProblem {
  return {
    model,
    version,
    field,
    message: `model "${model}"${version ? ` version ${version}` : ''}: ${field}: ${what}`,
  };
}

/**
 * Check `head` (the pull request's lock) against `base` (the lock where it
 * branched off); see the module comment. Reports every problem of every
 * version; network errors (the tracking server down) are thrown, not reported.
 */
export async function checkProvenance(
  base: Lock,
  head: Lock,
  options: ProvenanceOptions,
): Promise<ProvenanceReport> {
  const rows = diffLocks(base, head);
  const report: ProvenanceReport = {
    ok: true,
    added: [],
    problems: [...changeProblems(rows), ...historyProblems(base, head)],
  };
  const store: ArtifactStoreOptions = {
    baseDir: options.lockDir,
    ...(options.mlflow ? { mlflow: options.mlflow } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.objectStore ? { objectStore: options.objectStore } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  };
  const client = options.mlflow
    ? new MlflowClient(httpOptionsOf(options.mlflow, options.fetch ? { fetch: options.fetch } : {}))
    : undefined;
  const added = rows.filter((r) => r.kind === 'version' && r.change === 'added');
  const maxAdded = options.maxAdded ?? MAX_ADDED_VERSIONS;
  if (added.length > maxAdded) {
    // Refused before any lookup: a pull request cannot make the check query the tracking server at length.
    report.problems.push(tooManyAdded(added.length, maxAdded));
    report.ok = false;
    return report;
  }
  for (const row of rows) {
    if (row.kind !== 'version' || row.change !== 'added') continue;
    const { model, version } = row;
    const entry = head.models[model]?.versions[version] as LockedVersion;
    const found = await addedProblems(model, version, entry, options, store, client);
    for (const [field, what] of found) report.problems.push(problem(model, version, field, what));
    report.added.push({ model, version, ok: found.length === 0 });
  }
  report.ok = report.problems.length === 0;
  return report;
}

/** The one problem of a pull request that adds more than `max` versions. */
function tooManyAdded(count: number, max: number): ProvenanceProblem {
  return {
    model: '',
    version: '',
    field: 'versions',
    message: `${count} versions added; a pull request adds at most ${max} (a training pull request adds one): split it, nothing was looked up`,
  };
}

/** The diff's rows that the lock's rules refuse: a pin moved, a version changed or removed. */
function changeProblems(rows: ReturnType<typeof diffLocks>): ProvenanceProblem[] {
  const out: ProvenanceProblem[] = [];
  for (const row of rows) {
    if (row.kind === 'pin') {
      out.push(
        problem(
          row.model,
          '',
          `pins.${row.env}`,
          `moved from ${row.from ?? '(none)'} to ${row.to ?? '(none)'}; pins move only through promote.yml (npm run promote), behind the gates and reviewers of ${row.env}`,
        ),
      );
    } else if (row.change === 'changed') {
      for (const field of row.fields) {
        out.push(
          problem(
            row.model,
            row.version,
            field,
            'changed; versions are immutable: add a new version instead',
          ),
        );
      }
    } else if (row.change === 'removed') {
      out.push(
        problem(row.model, row.version, 'versions', 'removed; versions are never removed from the lock'),
      );
    }
  }
  return out;
}

/**
 * The rest of the append-only rule (models removed, promotion records
 * rewritten; the version rows are {@link changeProblems}'), and promotion
 * records appended: as dangerous as rewritten ones, since rollback, revert
 * and the image a promotion carries all read this history (previousRecord,
 * pinnedImage), and two records that net to nothing leave the pins unchanged.
 */
function historyProblems(base: Lock, head: Lock): ProvenanceProblem[] {
  const out: ProvenanceProblem[] = [];
  for (const message of appendOnlyProblems(base, head)) {
    if (/^model "[^"]+" version /.test(message)) continue;
    const model = /^model "([^"]+)"/.exec(message)?.[1] ?? '';
    out.push({
      model,
      version: '',
      field: /promotion record/.test(message) ? 'promotions' : 'models',
      message,
    });
  }
  for (const [model, m] of Object.entries(head.models)) {
    const known = base.models[model]?.promotions.length ?? 0;
    m.promotions.slice(known).forEach((p, i) => {
      out.push({
        model,
        version: '',
        field: `promotions[${known + i}]`,
        message: `model "${model}": promotions[${known + i}]: appended (${p.env}: ${p.from ?? '(none)'} → ${p.to}); promotion records are written only by promote.yml (npm run promote), never by a pull request`,
      });
    });
  }
  return out;
}

/** Problems of one added version: its origin, its MLflow run, and its files' digests (`[field, what]`). */
async function addedProblems(
  model: string,
  version: string,
  entry: LockedVersion,
  options: ProvenanceOptions,
  store: ArtifactStoreOptions,
  client: MlflowClient | undefined,
): Promise<[string, string][]> {
  const found: [string, string][] = originProblems(entry, options, store);
  if (entry.mlflow.runId !== null) {
    if (client)
      found.push(...(await runProblems(model, entry, client, options.revealTrackingValues === true)));
    else
      found.push([
        'mlflow.runId',
        `run ${entry.mlflow.runId} cannot be checked: MLFLOW_TRACKING_URI is not set`,
      ]);
  }
  if (options.signing && (entry.signature || options.signing.require)) {
    found.push(...(await signatureProblems(model, version, entry, options.signing)));
  }
  // Fetch only from an allowed origin: never send a request where the entry alone points.
  if (!found.some(([field]) => field === 'artifactUri')) {
    found.push(...(await digestProblems(model, version, entry, store, options.lockDir)));
  }
  return found;
}

/** The added version's signature against the base's signing policy, a refusal as `[field, what]`. */
async function signatureProblems(
  model: string,
  version: string,
  entry: LockedVersion,
  signing: NonNullable<ProvenanceOptions['signing']>,
): Promise<[string, string][]> {
  try {
    await verifyModelSignature(
      entry.signature,
      { model, version, rootDigest: entry.rootDigest, gitCommit: entry.gitCommit },
      signing.policy,
      signing.verify ?? {},
    );
    return [];
  } catch (e) {
    const why = signatureRefusal(e);
    if (why === undefined) throw e;
    return [['signature', why]];
  }
}

/** The files of one version fetched and sha256-checked (verifyLock), each mismatch as `[field, what]`. */
async function digestProblems(
  model: string,
  version: string,
  entry: LockedVersion,
  store: ArtifactStoreOptions,
  lockDir: string,
): Promise<[string, string][]> {
  const one: Lock = {
    lockfileVersion: 2,
    models: { [model]: { pins: {}, promotions: [], versions: { [version]: entry } } },
  };
  const verified = await verifyLock(one, { ...store, lockDir, all: true });
  return verified.problems.map((p) => {
    const at = p.message.indexOf(': ');
    return [p.file ? `digests["${p.file}"]` : 'rootDigest', at >= 0 ? p.message.slice(at + 2) : p.message];
  });
}

/** One line per added version, then each problem; what `lock check-provenance` prints. */
export function formatProvenanceReport(report: ProvenanceReport): string {
  const lines = report.added.map(
    (a) =>
      `${a.ok ? 'ok  ' : 'FAIL'} ${a.model} version ${a.version}: ${a.ok ? 'matches the tracking server' : 'does not match'}`,
  );
  if (report.added.length === 0 && !report.problems.some((p) => p.field === 'versions' && p.model === ''))
    lines.push('no versions added');
  for (const p of report.problems) lines.push(`  - ${p.message}`);
  return `${lines.join('\n')}\n`;
}
