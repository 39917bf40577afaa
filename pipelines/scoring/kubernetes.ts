/**
 * Batch scoring as a Kubernetes Indexed Job (`npm run score -- --on
 * kubernetes --parallelism N`): N pods, each with JOB_COMPLETION_INDEX set
 * by the Job controller, each running `npm run score -- ... --shards N` on a
 * checkout of the repository (the lock file there names the model version
 * and its digests), so each scores its contiguous shard of the batches
 * (./plan.ts) into the same `s3://` output. Built on the training Job's
 * builder and submitted and followed by the same code
 * (pipelines/training/kubernetes submitJob); the template is
 * manifests/scoring-job.
 * @see https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode
 */
import type { V1Job } from '@kubernetes/client-node';
import { kustomizeImageOf } from '../../gitops/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import { isS3Url } from '../../platform/object-store/index.ts';
import {
  buildTrainingJob,
  type JobResult,
  loadJobTemplate,
  type SubmitJobDeps,
  type SubmitJobOptions,
  submitJob,
  TERMINATION_MESSAGE_PATH,
  TRAINER_IMAGE_NAME,
} from '../training/kubernetes/index.ts';
import { jobSource } from '../training/on-kubernetes.ts';

/** The container of each scoring pod. */
export const SCORER_CONTAINER = 'scorer';

export interface ScoringJobSpec {
  name: string;
  namespace: string;
  image: string;
  git: { repository: string; ref: string };
  /** The lock file's path in the checkout. */
  lockPath: string;
  model: string;
  version: string;
  /** `s3://` input and output (a pod sees no local folder of the submitter). */
  input: string;
  out: string;
  batchSize: number;
  topK: number;
  /** Pods = shards = completions. */
  parallelism: number;
  cpu?: string;
  memory?: string;
}

/** The `npm run score` arguments of every pod: the same for all, the index comes from the Job. */
export function scorerArgs(s: Omit<ScoringJobSpec, 'name' | 'namespace' | 'image' | 'git'>): string[] {
  return [
    'npm',
    'run',
    'score',
    '--',
    '--lock',
    s.lockPath,
    '--model',
    s.model,
    '--version',
    s.version,
    '--input',
    s.input,
    '--out',
    s.out,
    '--batch-size',
    String(s.batchSize),
    '--top-k',
    String(s.topK),
    '--shards',
    String(s.parallelism),
    '--no-progress',
    '--result-file',
    TERMINATION_MESSAGE_PATH,
  ];
}

/** The Indexed Job: the template (manifests/scoring-job) with the run's fields set. */
export function buildScoringJob(spec: ScoringJobSpec, template?: V1Job): V1Job {
  for (const [flag, url] of [
    ['--input', spec.input],
    ['--out', spec.out],
  ] as const) {
    if (!isS3Url(url)) {
      throw new ProjectError(
        'USAGE',
        `${flag} ${url}: a Kubernetes Job reads and writes the object store only`,
        {
          subject: flag,
          hint: 'upload the images and name an s3://bucket/prefix (docs/batch-scoring.md)',
        },
      );
    }
  }
  const job = buildTrainingJob(
    {
      name: spec.name,
      namespace: spec.namespace,
      image: spec.image,
      git: spec.git,
      container: SCORER_CONTAINER,
      args: scorerArgs(spec),
      gpus: 0,
      ...(spec.cpu ? { cpu: spec.cpu } : {}),
      ...(spec.memory ? { memory: spec.memory } : {}),
      nodeSelector: template?.spec?.template?.spec?.nodeSelector ?? {},
      tolerations: template?.spec?.template?.spec?.tolerations ?? [],
      labels: {
        // The template's name label (manifests/scoring-job: model-scoring), which its NetworkPolicy selects.
        'app.kubernetes.io/name': template?.metadata?.labels?.['app.kubernetes.io/name'] ?? 'model-scoring',
        'app.kubernetes.io/component': 'scorer',
        'ml.gitops/model-name': spec.model,
        'ml.gitops/model-version': spec.version,
      },
    },
    template,
  );
  const { backoffLimit: _all, ...s } = job.spec ?? { template: {} };
  // backoffLimit counts all indexes together; with backoffLimitPerIndex it is left out.
  job.spec = {
    ...s,
    completionMode: 'Indexed',
    completions: spec.parallelism,
    parallelism: spec.parallelism,
    // A failed shard is retried on its own; its finished batches are skipped then.
    backoffLimitPerIndex: template?.spec?.backoffLimitPerIndex ?? 2,
  };
  return job;
}

/** What is scored and how, as in the Job's spec: the same fields as {@link ScoringJobSpec}. */
export interface KubernetesScoringOptions
  extends Pick<
    ScoringJobSpec,
    'model' | 'version' | 'input' | 'out' | 'batchSize' | 'topK' | 'parallelism' | 'namespace'
  > {
  /** manifests/scoring-job (its Job is the template; its kustomization pins the image). */
  templateDir: string;
  /** The lock file's path, inside the repository checkout `cwd`. */
  lockPath: string;
  cwd: string;
  hostEnv: Record<string, string | undefined>;
  image?: string;
  name?: string;
  gitRepository?: string;
  gitRef?: string;
  signal?: AbortSignal;
  /** How the Job is followed (poll interval, give-up time): submitJob's defaults otherwise. */
  follow?: Pick<SubmitJobOptions, 'pollMs' | 'maxPollMs' | 'timeoutMs' | 'followLogs'>;
}

/** Submit the Indexed Job and follow it to its end (a failed Job is a result: the caller exits 1). */
export async function scoreOnKubernetes(
  o: KubernetesScoringOptions,
  deps: SubmitJobDeps,
): Promise<JobResult> {
  const image =
    o.image ?? o.hostEnv.SCORING_IMAGE ?? (await kustomizeImageOf(o.templateDir, TRAINER_IMAGE_NAME));
  if (!image) {
    throw new ProjectError(
      'USAGE',
      `--on kubernetes needs the image: --image <ref>, SCORING_IMAGE, or a digest pinned for ${TRAINER_IMAGE_NAME} in ${o.templateDir}/kustomization.yaml`,
      { subject: '--image' },
    );
  }
  const src = await jobSource({
    cwd: o.cwd,
    hostEnv: o.hostEnv,
    configPath: o.lockPath,
    pathFlag: '--lock',
    ...(o.gitRepository ? { gitRepository: o.gitRepository } : {}),
    ...(o.gitRef ? { gitRef: o.gitRef } : {}),
  });
  const name =
    o.name ??
    `score-${o.model}-${Date.now().toString(36)}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 63)
      .replace(/-+$/, '');
  const manifest = buildScoringJob(
    {
      name,
      namespace: o.namespace,
      image,
      git: { repository: src.repository, ref: src.ref },
      lockPath: src.configPath,
      model: o.model,
      version: o.version,
      input: o.input,
      out: o.out,
      batchSize: o.batchSize,
      topK: o.topK,
      parallelism: o.parallelism,
    },
    await loadJobTemplate(o.templateDir),
  );
  deps.log?.(`each of ${o.parallelism} pods scores its shard at ${src.ref} of ${src.repository}`);
  return submitJob(
    manifest,
    {
      ...o.follow,
      container: SCORER_CONTAINER,
      what: `image ${image}, Indexed, ${o.parallelism} completions`,
      ...(o.signal ? { signal: o.signal } : {}),
    },
    deps,
  );
}
