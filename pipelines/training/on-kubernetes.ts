/**
 * Training as a Kubernetes Job, end to end (`npm run train -- --on kubernetes`):
 * decide what the Job checks out (the repository and the ref: a pushed commit,
 * by default this checkout's HEAD), submit the Job (pipelines/training/kubernetes), and
 * when it succeeded add the candidate it reports to the lock, with the very
 * code training on the runner uses (./candidate.ts). The run itself is
 * recorded in MLflow by the trainer inside the Job (it has the tracking
 * server's address from manifests/training-job), tagged with the ref.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import type { LockedVersion } from '../../lock/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import { gitRunner } from '../../platform/git/index.ts';
import type { Cluster } from '../verify/index.ts';
import { lockJobCandidate } from './candidate.ts';
import {
  type SubmitTrainingJobOptions,
  submitTrainingJob,
  type TrainingJobResult,
} from './kubernetes/index.ts';

/** Where the Job writes the artifact (an emptyDir of manifests/training-job). */
export const JOB_ARTIFACT_DIR = '/work/runs/artifact';

export interface KubernetesTrainingOptions
  extends Omit<SubmitTrainingJobOptions, 'args' | 'git' | 'command'> {
  /** The training config, a path inside the repository (the Job reads it from its checkout). */
  configPath: string;
  /** `--data` for the trainer (a path inside the checkout). */
  dataPath?: string;
  modelName?: string;
  /** Add the Job's candidate to this lock. */
  lockPath?: string;
  /** The repository checkout the command runs in. */
  cwd: string;
  /** This process's environment (TRAINING_GIT_*, GITHUB_*); the Job's own variables are `env`. */
  hostEnv: Record<string, string | undefined>;
  /** What to check out; defaults: TRAINING_GIT_REPOSITORY / TRAINING_GIT_REF, then the Actions repository, then origin and HEAD. */
  gitRepository?: string;
  gitRef?: string;
}

export interface KubernetesTrainingResult {
  job: TrainingJobResult;
  git: { repository: string; ref: string };
  /** The candidate added to the lock (with lockPath and a succeeded Job). */
  locked?: { model: string; version: string; entry: LockedVersion };
}

/** A URL git can fetch without the user's local paths: ssh `git@host:o/r` becomes https. */
function fetchableUrl(url: string): string {
  const scp = /^[\w.-]+@([\w.-]+):(.+)$/.exec(url);
  return scp ? `https://${scp[1]}/${scp[2]}` : url;
}

/** The repository and ref the Job checks out, and the config path inside the repository. */
export async function jobSource(
  o: Pick<KubernetesTrainingOptions, 'cwd' | 'hostEnv' | 'gitRepository' | 'gitRef' | 'configPath'> & {
    /** The flag that named `configPath`, for messages (default --config). */
    pathFlag?: string;
  },
): Promise<{ repository: string; ref: string; configPath: string }> {
  const git = gitRunner(o.cwd, { env: o.hostEnv });
  const top = (await git.tryRun(['rev-parse', '--show-toplevel'])).stdout.trim();
  const env = o.hostEnv;
  const actionsRepo =
    env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY
      ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}.git`
      : undefined;
  const origin = top ? (await git.tryRun(['remote', 'get-url', 'origin'])).stdout.trim() : '';
  const head = top ? (await git.tryRun(['rev-parse', 'HEAD'])).stdout.trim() : '';
  const repository =
    o.gitRepository ?? env.TRAINING_GIT_REPOSITORY ?? actionsRepo ?? (origin ? fetchableUrl(origin) : '');
  const ref = o.gitRef ?? env.TRAINING_GIT_REF ?? head;
  if (!repository || !ref) {
    throw new ProjectError(
      'USAGE',
      `--on kubernetes needs the repository and the revision the Job checks out, and ${o.cwd} has ${top ? 'no origin remote or no commit' : 'no git checkout'}`,
      {
        subject: '--git-repo',
        hint: 'pass --git-repo <https URL> and --git-ref <commit> (push the commit first)',
      },
    );
  }
  const abs = resolve(o.cwd, o.configPath);
  const inRepo = top ? relative(top, abs) : o.configPath;
  if (top && (inRepo.startsWith('..') || isAbsolute(inRepo))) {
    throw new ProjectError(
      'USAGE',
      `${o.pathFlag ?? '--config'} ${o.configPath} is outside the repository ${top}: the Job reads it from its checkout`,
      {
        subject: o.pathFlag ?? '--config',
        hint: 'commit the config to the repository and name it by its path there',
      },
    );
  }
  return { repository, ref, configPath: inRepo.split('\\').join('/') };
}

/**
 * Submit the training Job for the repository at `ref` and wait for it; with
 * `lockPath`, add the candidate it reports to the lock. A failed Job is
 * returned (the caller exits 1), not thrown.
 */
export async function trainOnKubernetes(
  o: KubernetesTrainingOptions,
  deps: { cluster: Cluster; stdout: NodeJS.WritableStream; log?: (line: string) => void },
): Promise<KubernetesTrainingResult> {
  const src = await jobSource(o);
  const args = [
    'npm',
    'run',
    'train',
    '--',
    '--config',
    src.configPath,
    '--out',
    JOB_ARTIFACT_DIR,
    '--no-progress',
  ];
  if (o.dataPath) args.push('--data', o.dataPath);
  if (o.modelName) args.push('--model', o.modelName);
  const git = { repository: src.repository, ref: src.ref };
  deps.log?.(`the Job trains ${src.configPath} at ${src.ref} of ${src.repository}`);
  const {
    hostEnv: _host,
    cwd: _cwd,
    configPath: _c,
    dataPath: _d,
    modelName: _m,
    lockPath: _l,
    ...submit
  } = o;
  const job = await submitTrainingJob({ ...submit, args, git }, deps);
  const out: KubernetesTrainingResult = { job, git };
  if (job.state === 'succeeded' && o.lockPath) {
    out.locked = await lockJobCandidate(
      o.lockPath,
      job.result,
      `Job ${job.namespace}/${job.jobName}`,
      deps.log,
    );
  }
  return out;
}
