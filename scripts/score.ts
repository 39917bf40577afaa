/**
 * `npm run score`: batch scoring (docs/batch-scoring.md). Every image of a
 * folder or an `s3://` prefix through one model version of
 * models.lock.json (named, or the one an environment pins), checked against
 * the lock's digests, written as `capture/v1` records. Resumable; Ctrl-C
 * stops after the batch in flight, keeping what was written. With
 * `--on kubernetes --parallelism N` the same command runs as an Indexed Job,
 * one shard per index (pipelines/scoring/kubernetes.ts).
 *
 * Thin: flags → pipelines/scoring → a summary table.
 */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { environmentsBesideLock } from '../gitops/index.ts';
import { chooseModel, lockedPin, readLock } from '../lock/index.ts';
import { type BackendName, SERVING_ORDER, selectBackend } from '../model/backend.ts';
import {
  createScoreProgress,
  parseLocation,
  type ScoreResult,
  type ScoringJobResult,
  scoreImages,
  scoreOnKubernetes,
} from '../pipelines/scoring/index.ts';
import { loadCluster } from '../pipelines/verify/index.ts';
import {
  command,
  isMain,
  type ParsedCommand,
  ProjectError,
  runMain,
  SHARED_FLAGS,
  usageOf,
} from '../platform/index.ts';
import { objectStoreConfigFromEnv, objectStoreFromEnv } from '../platform/object-store/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run score --',
  summary: `Batch scoring (docs/batch-scoring.md): every image of --input through one model
version of the lock (--version, or the one --env pins: exactly one of them),
checked against the lock's digests, written as capture/v1 records to --out.
Resumable: batches already written are skipped, so a re-run resumes; Ctrl-C
stops after the batch in flight, keeping what was written. With --on kubernetes
--parallelism N it runs as a Kubernetes Indexed Job, one shard per pod.`,
  required: ['input', 'out'],
  options: {
    input: {
      type: 'string',
      value: '<folder|s3://prefix>',
      help: 'PNG/JPEG images: a folder (searched recursively) or an s3://bucket/prefix\n(OBJECT_STORE_*)',
    },
    out: {
      type: 'string',
      value: '<folder|s3://prefix>',
      help: 'where the capture/v1 records go, a folder or an s3://bucket/prefix:\n<out>/capture/v1/model=<m>/version=<v>/date=<day>/score-<batch>.jsonl;\nbatches already there are skipped (a re-run resumes), and their count\nprinted',
    },
    model: {
      type: 'string',
      value: '<name>',
      help: "the model in the lock (default: the lock's only model)",
    },
    version: { type: 'string', value: '<id>', help: 'the version to score with (or --env)' },
    env: {
      type: 'string',
      value: '<env>',
      help: 'score with the version this environment pins (models.<model>.pins.<env>)',
    },
    lock: SHARED_FLAGS.lock,
    'batch-size': { type: 'string', default: '32', value: '<n>', help: 'images per batch' },
    'top-k': { type: 'string', default: '3', value: '<n>', help: 'the top classes recorded per image' },
    shards: {
      type: 'string',
      value: '<n>',
      help: 'score one shard of n, --shard-index: contiguous ranges of batches',
    },
    'shard-index': {
      type: 'string',
      value: '<i>',
      help: 'the shard to score (default: JOB_COMPLETION_INDEX with --shards, else 0)',
    },
    'no-progress': { type: 'boolean', default: false, help: 'no progress bar' },
    'result-file': {
      type: 'string',
      value: '<file>',
      help: 'also write the result (the JSON line) to this file',
    },
    on: {
      type: 'string',
      default: 'here',
      value: '<where>',
      help: 'here, or kubernetes: a Kubernetes Indexed Job (manifests/scoring-job), which\n--parallelism to --git-ref set up',
    },
    parallelism: { type: 'string', value: '<n>', help: 'with --on kubernetes: n pods, one shard each' },
    image: {
      type: 'string',
      value: '<ref>',
      help: 'the image (default: SCORING_IMAGE, else the trainer image pinned in\nmanifests/scoring-job/kustomization.yaml)',
    },
    namespace: { type: 'string', default: 'ml-scoring', value: '<name>', help: "the Job's namespace" },
    'job-name': { type: 'string', value: '<name>', help: "the Job's name (default: score-<model>-<time>)" },
    kubeconfig: SHARED_FLAGS.kubeconfig,
    'git-repo': {
      type: 'string',
      value: '<url>',
      help: "the repository each pod checks out (default: this repository's origin)",
    },
    'git-ref': {
      type: 'string',
      value: '<commit>',
      help: 'the commit each pod checks out (default: HEAD: push it first)',
    },
  },
  choices: { env: environmentsBesideLock() },
  notes: `Here, it prints a summary table, then the result as one JSON line; with --on
kubernetes, the Job's state and one line per pod. SCORING_BACKEND (tensorflow-gpu |
tensorflow | wasm | cpu) forces a backend.`,
  exit: { 1: 'an error, or an interrupted run (re-run to resume)' },
} as const;

export interface MainDeps {
  env?: Record<string, string | undefined>;
  cwd?: string;
  print?: (text: string) => void;
  signal?: AbortSignal;
  /** Where progress goes (default process.stderr). */
  stderr?: NodeJS.WriteStream;
  stdout?: NodeJS.WritableStream;
  templateDir?: string;
}

function wholeNumber(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) {
    throw new ProjectError('USAGE', `--${flag} ${value} is not a whole number >= ${min}`, {
      subject: `--${flag}`,
    });
  }
  return n;
}

/** The summary table of a run. */
export function scoreTable(r: ScoreResult): string {
  const rows: [string, string][] = [
    ['model', `${r.model} ${r.version}`],
    ['shard', `${r.shard.index} of ${r.shard.count}`],
    ['images', `${r.shardImages} in this shard (${r.inputImages} in the input)`],
    ['batches', String(r.batches)],
    ['skipped', `${r.skippedBatches} batches (${r.skippedImages} images) already written`],
    ['written', `${r.writtenBatches} batches (${r.scoredImages} images, ${r.errors} error records)`],
    ['records', r.records],
  ];
  if (r.interrupted) rows.push(['interrupted', 'yes: run the same command again to resume']);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** What both ways of scoring start from: the flags, the chosen version, the sizes. */
interface Scoring {
  v: ParsedCommand<typeof COMMAND.options>['values'];
  deps: MainDeps;
  env: Record<string, string | undefined>;
  cwd: string;
  print: (text: string) => void;
  lockPath: string;
  model: string;
  pin: ReturnType<typeof lockedPin>;
  batchSize: number;
  topK: number;
}

/** `--on kubernetes`: the Indexed Job, followed to its end; one line per pod. */
async function scoreAsJob(s: Scoring): Promise<number> {
  const { v, deps } = s;
  const parallelism = wholeNumber('parallelism', v.parallelism ?? '', 1);
  const cluster = loadCluster({ kubeconfig: v.kubeconfig, env: s.env });
  const job: ScoringJobResult = await scoreOnKubernetes(
    {
      model: s.model,
      version: s.pin.version,
      input: v.input as string,
      out: v.out as string,
      batchSize: s.batchSize,
      topK: s.topK,
      parallelism,
      namespace: v.namespace,
      templateDir: resolve(s.cwd, deps.templateDir ?? 'manifests/scoring-job'),
      lockPath: s.lockPath,
      cwd: s.cwd,
      hostEnv: s.env,
      ...(v.image ? { image: v.image } : {}),
      ...(v['job-name'] ? { name: v['job-name'] } : {}),
      ...(v['git-repo'] ? { gitRepository: v['git-repo'] } : {}),
      ...(v['git-ref'] ? { gitRef: v['git-ref'] } : {}),
      signal: deps.signal,
    },
    { cluster, stdout: deps.stdout ?? process.stdout, log: (l: string) => console.error(l) },
  );
  s.print(`Job ${job.namespace}/${job.jobName}: ${job.state}${job.reason ? ` (${job.reason})` : ''}\n`);
  for (const p of job.pods) {
    s.print(
      `  index ${p.index ?? '?'}  pod ${p.name}  ${p.phase ?? ''}${p.exitCode !== undefined ? ` exit ${p.exitCode}` : ''}\n`,
    );
  }
  return job.state === 'succeeded' ? 0 : 1;
}

/** The shard this process scores: --shards and --shard-index (or JOB_COMPLETION_INDEX). */
function shardOf(s: Scoring): { index: number; count: number } {
  const { v } = s;
  if (v.parallelism !== undefined) {
    throw new ProjectError('USAGE', '--parallelism goes with --on kubernetes (here, use --shards)', {
      subject: '--parallelism',
    });
  }
  const count = v.shards === undefined ? 1 : wholeNumber('shards', v.shards, 1);
  const indexText =
    v['shard-index'] ?? (v.shards !== undefined ? s.env.JOB_COMPLETION_INDEX : undefined) ?? '0';
  return { index: wholeNumber('shard-index', indexText, 0), count };
}

/** Score here (one shard), with a progress bar; the table, then one JSON line a Job's submitter reads. */
async function scoreHere(s: Scoring): Promise<number> {
  const { v, deps, env } = s;
  const shard = shardOf(s);
  const forced = env.SCORING_BACKEND as BackendName | undefined;
  if (forced && !SERVING_ORDER.includes(forced)) {
    throw new ProjectError('USAGE', `SCORING_BACKEND=${forced} is not one of ${SERVING_ORDER.join(', ')}`, {
      subject: 'SCORING_BACKEND',
    });
  }
  await selectBackend(SERVING_ORDER, forced);
  const store = objectStoreFromEnv(env);
  const objectStore = objectStoreConfigFromEnv(env);
  try {
    const result = await scoreImages(
      {
        pin: s.pin,
        input: parseLocation(v.input as string, s.cwd),
        out: parseLocation(v.out as string, s.cwd),
        batchSize: s.batchSize,
        topK: s.topK,
        shard,
        ...(deps.signal ? { signal: deps.signal } : {}),
        fetch: {
          digestsSubject: `${s.lockPath} models.${s.model}.versions.${s.pin.version}.digests`,
          ...(objectStore ? { objectStore } : {}),
        },
      },
      {
        ...(store ? { store } : {}),
        ...(v['no-progress']
          ? {}
          : { progress: createScoreProgress({ stream: deps.stderr ?? process.stderr }) }),
      },
    );
    s.print(`${scoreTable(result)}\n`);
    const line = JSON.stringify({ ...result, shard: `${shard.index}/${shard.count}` });
    if (v['result-file']) await writeFile(v['result-file'], line);
    s.print(`${line}\n`);
    return result.interrupted ? 1 : 0;
  } finally {
    store?.close();
  }
}

export const main = command(COMMAND, async (cli, deps: MainDeps = {}) => {
  const cwd = deps.cwd ?? process.cwd();
  const v = cli.values;
  if ((v.version === undefined) === (v.env === undefined)) {
    throw new ProjectError(
      'USAGE',
      `name the model version with exactly one of --version or --env\n\n${usageOf(COMMAND)}`,
      {
        subject: '--version',
      },
    );
  }
  const lockPath = resolve(cwd, v.lock);
  const lock = await readLock(lockPath);
  const model = chooseModel(lock, v.model, lockPath);
  const s: Scoring = {
    v,
    deps,
    env: deps.env ?? process.env,
    cwd,
    print: deps.print ?? console.log,
    lockPath,
    model,
    pin: lockedPin(lock, model, v.version ? { version: v.version } : { env: v.env as string }, lockPath),
    batchSize: wholeNumber('batch-size', v['batch-size'], 1),
    topK: wholeNumber('top-k', v['top-k'], 1),
  };
  if (v.on === 'kubernetes') return scoreAsJob(s);
  if (v.on !== 'here') {
    throw new ProjectError('USAGE', `--on ${v.on}: use --on kubernetes, or leave it out to score here`, {
      subject: '--on',
    });
  }
  return scoreHere(s);
});

if (isMain(import.meta.url)) {
  const controller = new AbortController();
  const stop = (signal: string) => () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: stop now
    console.error(
      `\n${signal}: stopping after the batch in flight; what was written is kept (Ctrl-C again to quit at once)`,
    );
    controller.abort();
  };
  process.on('SIGINT', stop('SIGINT'));
  process.on('SIGTERM', stop('SIGTERM'));
  await runMain(() => main(process.argv.slice(2), { signal: controller.signal }));
}
