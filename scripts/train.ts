/**
 * Train a model and export its artifact.
 *
 *   npm run train -- --config training/configs/demo.json --out <dir> [flags]   (--help: all of them)
 *
 * Thin: flags → `train()` (training/) → a summary table. Ctrl-C (SIGINT) or
 * SIGTERM stops between batches and keeps the best checkpoint, whose path
 * the error names. Exit codes: 0 success, 1 failure, 2 bad usage.
 * TRAINING_BACKEND (tensorflow-gpu | tensorflow | cpu) forces a backend.
 */
import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { kustomizeImageOf } from '../gitops/index.ts';
import { type BackendName, TRAINING_ORDER } from '../model/backend.ts';
import {
  type KubernetesTrainingResult,
  type TrainAndRecordResult,
  trainAndRecord,
  trainOnKubernetes,
} from '../pipelines/training/index.ts';
import {
  RESULT_FILE_ENV,
  TRAINER_IMAGE_NAME,
  type TrainingJobResult,
} from '../pipelines/training/kubernetes/index.ts';
import { loadCluster } from '../pipelines/verify/index.ts';
import {
  command,
  isMain,
  type ParsedCommand,
  ProjectError,
  runMain,
  SHARED_FLAGS,
} from '../platform/index.ts';
import { loadTrainingConfig, type TrainingConfig } from '../training/index.ts';
import {
  sourceInfoFromActionsEnv,
  sourceInfoFromGit,
  sourceInfoFromJob,
} from '../training/tracking/index.ts';

/** The summary table printed at the end of a run. */
export function summaryTable(run: TrainAndRecordResult): string {
  const r = run.train;
  const t = run.tracking;
  const rows: [string, string][] = [
    ['model', r.name],
    ['backend', `${r.backend.id} (${r.backend.package})`],
    ['dataset digest', r.datasetDigest],
    ['split (train/val/test)', `${r.split.counts.train}/${r.split.counts.validation}/${r.split.counts.test}`],
    ['epochs run', `${r.epochsRun}${r.stoppedEarly ? ' (early stop)' : ''}`],
    ['best epoch', String(r.bestEpoch)],
    ['test accuracy', r.metrics.accuracy.toFixed(4)],
    ['macro-F1', r.metrics.macro_f1.toFixed(4)],
    ['artifact', r.artifactDir],
    ['root digest', r.rootDigest],
    ['duration', `${r.durationSeconds.toFixed(1)} s`],
    ['tracking run', `${t.runId} (${t.offline ? 'local store ' : ''}${t.where})`],
  ];
  if (t.modelVersion) rows.push(['registered version', `${run.modelName} v${t.modelVersion}`]);
  if (run.lockVersion) rows.push(['lock version', `${run.modelName} ${run.lockVersion} (candidate)`]);
  if (t.uploadCommand) rows.push(['upload later', t.uploadCommand]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

export interface MainDeps {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where the Job's logs go for --on kubernetes (default stdout). */
  stdout?: NodeJS.WritableStream;
  templateDir?: string;
  print?: (line: string) => void;
  signal?: AbortSignal;
}

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run train --',
  summary: `Train a model from a training config and export its artifact to --out: here,
or with --on kubernetes as a Kubernetes Job on a GPU node pool. Ctrl-C (SIGINT)
or SIGTERM stops between batches and keeps the best checkpoint, whose path the
error names.`,
  required: ['config', 'out'],
  options: {
    config: { type: 'string', value: '<file>', help: 'the training config (training/configs/*.json)' },
    out: {
      type: 'string',
      value: '<dir>',
      help: 'the artifact folder to write (must be new or empty unless --force)',
    },
    data: { type: 'string', value: '<dir>', help: "the data folder; overrides the config's data.path" },
    force: { type: 'boolean', default: false, help: 'write the artifact into a folder that is not empty' },
    checkpoints: {
      type: 'string',
      value: '<dir>',
      help: 'where the best checkpoints go (default: <out>.checkpoints)',
    },
    'keep-checkpoints': {
      type: 'boolean',
      default: false,
      help: 'keep the checkpoints after a successful run (default: removed)',
    },
    lock: {
      type: 'string',
      value: '<file>',
      help: "add the artifact to this lock file as the model's next candidate version",
    },
    model: {
      type: 'string',
      value: '<name>',
      help: "the model's name in MLflow and the lock (default: the config's name)",
    },
    on: {
      type: 'string',
      default: 'runner',
      value: '<where>',
      help: 'runner: train here; kubernetes: as a Kubernetes Job on a GPU node pool instead\n(manifests/training-job), which --image to --git-ref set up',
    },
    image: {
      type: 'string',
      value: '<ref>',
      help: 'the trainer image (default: TRAINING_IMAGE, else the trainer image pinned by\ndigest in manifests/training-job/kustomization.yaml by npm run ci:pin-images)',
    },
    namespace: { type: 'string', default: 'ml-training', value: '<name>', help: "the Job's namespace" },
    'job-name': {
      type: 'string',
      value: '<name>',
      help: "the Job's name (default: train-<config name>-<time>)",
    },
    gpus: { type: 'string', default: '1', value: '<n>', help: 'the GPUs the Job asks for' },
    kubeconfig: SHARED_FLAGS.kubeconfig,
    'git-repo': {
      type: 'string',
      value: '<url>',
      help: "the repository the Job checks out (default: TRAINING_GIT_REPOSITORY, else\nthis repository's origin)",
    },
    'git-ref': {
      type: 'string',
      value: '<commit>',
      help: 'the commit the Job checks out (default: TRAINING_GIT_REF, else HEAD: push it\nfirst)',
    },
    'no-progress': { type: 'boolean', default: false, help: 'no training progress bar' },
  },
  notes: `With --on kubernetes it streams the Job's logs, and with --lock adds the candidate
the Job reports to the lock.
The run is recorded in MLflow when MLFLOW_TRACKING_URI is set (token:
MLFLOW_TRACKING_TOKEN), otherwise in the local run store ./mlruns-local (upload
later with npm run upload-runs). TRAINING_BACKEND (tensorflow-gpu | tensorflow |
cpu) forces a backend. At the end it prints a summary table.`,
} as const;

/** The flags, --config and --out known to be there. */
type Flags = ParsedCommand<typeof COMMAND.options>['values'] & { config: string; out: string };

export const main = command(COMMAND, async (cli, deps: MainDeps = {}) => {
  // parseCommand refused a run without --config or --out.
  const values: Flags = { ...cli.values, config: cli.values.config!, out: cli.values.out! };
  const env = deps.env ?? process.env;
  const forced = env.TRAINING_BACKEND;
  if (forced && !(TRAINING_ORDER as string[]).includes(forced)) {
    throw new ProjectError('USAGE', `TRAINING_BACKEND=${forced} is not one of ${TRAINING_ORDER.join(', ')}`, {
      subject: 'TRAINING_BACKEND',
    });
  }
  const config = await loadTrainingConfig(values.config);
  const cwd = deps.cwd ?? process.cwd();
  if (values.on === 'kubernetes') return trainAsJob(values, config, env, cwd, deps);
  return trainHere(values, config, env, cwd, forced as BackendName | undefined, deps);
});

/** `--on kubernetes`: submit the training Job, stream its logs, print its outcome; 1 (INVALID) when it failed. */
async function trainAsJob(
  values: Flags,
  config: TrainingConfig,
  env: NodeJS.ProcessEnv,
  cwd: string,
  deps: MainDeps,
): Promise<number> {
  const templateDir = deps.templateDir ?? 'manifests/training-job';
  const image = await trainerImage(values, env, cwd, templateDir);
  const gpus = Number(values.gpus);
  if (!Number.isInteger(gpus) || gpus < 0) {
    throw new ProjectError('USAGE', `--gpus ${values.gpus} is not a whole number >= 0`, {
      subject: '--gpus',
    });
  }
  const jobName =
    values['job-name'] ??
    `train-${config.name}-${Date.now().toString(36)}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 63);
  const cluster = loadCluster({ kubeconfig: values.kubeconfig, env });
  const log = (l: string) => console.error(l);
  const run = await trainOnKubernetes(
    {
      name: jobName,
      namespace: values.namespace,
      image,
      gpus,
      templateDir,
      signal: deps.signal,
      configPath: values.config,
      ...(values.data ? { dataPath: values.data } : {}),
      ...(values.model ? { modelName: values.model } : {}),
      ...(values.lock ? { lockPath: resolve(cwd, values.lock) } : {}),
      ...(values['git-repo'] ? { gitRepository: values['git-repo'] } : {}),
      ...(values['git-ref'] ? { gitRef: values['git-ref'] } : {}),
      cwd,
      hostEnv: env,
    },
    { cluster, stdout: deps.stdout ?? process.stdout, log },
  );
  const { job } = run;
  (deps.print ?? console.log)(jobTable(job, run));
  if (job.state !== 'succeeded') {
    throw new ProjectError(
      'INVALID',
      `training Job ${job.namespace}/${job.jobName} failed${job.reason ? ` (${job.reason})` : ''}${job.message ? `: ${job.message}` : ''}`,
      { subject: job.jobName, hint: `kubectl -n ${job.namespace} logs job/${job.jobName}` },
    );
  }
  return 0;
}

/**
 * The trainer image: --image, TRAINING_IMAGE, else the one image.yml built
 * on main, pinned by digest in the template; USAGE without any.
 */
async function trainerImage(
  values: Flags,
  env: NodeJS.ProcessEnv,
  cwd: string,
  templateDir: string,
): Promise<string> {
  const image =
    values.image ??
    env.TRAINING_IMAGE ??
    (await kustomizeImageOf(resolve(cwd, templateDir), TRAINER_IMAGE_NAME));
  if (!image) {
    throw new ProjectError(
      'USAGE',
      `--on kubernetes needs the trainer image: --image <ref>, TRAINING_IMAGE, or a digest pinned for ${TRAINER_IMAGE_NAME} in ${templateDir}/kustomization.yaml (npm run ci:pin-images)`,
      {
        subject: '--image',
      },
    );
  }
  return image;
}

/** Train on this machine, record the run, print the summary; in a training Job, write the result too. */
async function trainHere(
  values: Flags,
  config: TrainingConfig,
  env: NodeJS.ProcessEnv,
  cwd: string,
  backend: BackendName | undefined,
  deps: MainDeps,
): Promise<number> {
  const print = deps.print ?? console.log;
  // In Actions: the PR; in a training Job: the checkout and the ref it was asked for; else the local checkout.
  const source =
    env.GITHUB_ACTIONS === 'true'
      ? sourceInfoFromActionsEnv(env)
      : env.TRAINING_GIT_REF
        ? sourceInfoFromJob(env, cwd)
        : sourceInfoFromGit(cwd);
  const result = await trainAndRecord({
    config,
    env,
    cwd,
    source,
    lockPath: values.lock,
    modelName: values.model,
    outDir: values.out,
    dataPath: values.data,
    overwrite: values.force,
    checkpointDir: values.checkpoints,
    keepCheckpoints: values['keep-checkpoints'],
    progress: !values['no-progress'],
    configPath: values.config,
    backend,
    signal: deps.signal,
  });
  print(summaryTable(result));
  // In a Kubernetes Job, the result is the last log line and the termination message (pipelines/training/kubernetes reads it).
  const resultFile = env[RESULT_FILE_ENV];
  if (resultFile) {
    const summary = JSON.stringify(jobResultOf(result));
    print(summary);
    await writeFile(resultFile, summary).catch((e: Error) => {
      console.error(`warning: cannot write the result to ${resultFile}: ${e.message}`);
    });
  }
  return 0;
}

/** The result a training Job reports to its submitter. */
function jobResultOf(result: TrainAndRecordResult) {
  return {
    model: result.modelName,
    artifact: basename(result.train.artifactDir),
    rootDigest: result.train.rootDigest,
    datasetDigest: result.train.datasetDigest,
    accuracy: result.train.metrics.accuracy,
    macro_f1: result.train.metrics.macro_f1,
    backend: result.train.backend.id,
    runId: result.tracking.runId,
    ...(result.tracking.modelVersion ? { modelVersion: result.tracking.modelVersion } : {}),
    ...(result.lockVersion ? { lockVersion: result.lockVersion } : {}),
    // The submitter of a Kubernetes Job adds this entry to its lock (pipelines/training lockJobCandidate).
    entry: result.lockEntry,
  };
}

/** What `--on kubernetes` prints when the Job ends. */
export function jobTable(
  job: TrainingJobResult,
  run?: Pick<KubernetesTrainingResult, 'git' | 'locked'>,
): string {
  const rows: [string, string][] = [
    ['job', `${job.namespace}/${job.jobName}`],
    ['state', `${job.state}${job.reason ? ` (${job.reason})` : ''}`],
  ];
  if (run) rows.push(['checkout', `${run.git.ref} of ${run.git.repository}`]);
  if (job.podName) rows.push(['pod', job.podName]);
  if (job.exitCode !== undefined) rows.push(['exit code', String(job.exitCode)]);
  rows.push(['logs', job.logs.streamed ? 'streamed' : `not streamed: ${job.logs.error ?? 'unknown'}`]);
  for (const [k, v] of Object.entries(job.result ?? {})) if (k !== 'entry') rows.push([k, String(v)]);
  if (run?.locked) rows.push(['lock version', `${run.locked.model} ${run.locked.version} (candidate)`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

if (isMain(import.meta.url)) {
  const controller = new AbortController();
  const stop = (signal: string) => () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: stop now
    console.error(`\n${signal}: stopping after the current batch (Ctrl-C again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', stop('SIGINT'));
  process.on('SIGTERM', stop('SIGTERM'));
  await runMain(() => main(process.argv.slice(2), { signal: controller.signal }));
}
