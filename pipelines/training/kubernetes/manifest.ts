/**
 * The batch/v1 Job that runs training on a GPU node pool
 * (https://kubernetes.io/docs/concepts/workloads/controllers/job/). A template
 * in manifests/training-job/ (any YAML document of kind Job there) is the base
 * when present; otherwise the Job is built here. The run-specific parts (name,
 * image, env, GPU count; args when given) are always set from the options.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  loadYaml,
  type V1Container,
  type V1EnvVar,
  type V1Job,
  type V1ResourceRequirements,
  type V1Toleration,
  type V1Volume,
  type V1VolumeMount,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ProjectError } from '../../../platform/errors.ts';

/** Container of the training Job whose logs and termination message carry the result. */
export const TRAINER_CONTAINER = 'trainer';
/** Env var that tells the trainer where to write its result JSON (the container's termination message). */
export const RESULT_FILE_ENV = 'TRAIN_RESULT_FILE';
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** GPU resource name of the NVIDIA device plugin. */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** The trainer image's name in manifests/training-job (its kustomization `images:` entry pins it by digest). */
export const TRAINER_IMAGE_NAME = 'ghcr.io/OWNER/model-trainer';

/** The init container that checks out the revision to train (TRAINING_GIT_REF) before the trainer starts. */
export const CHECKOUT_CONTAINER = 'checkout';
/** Where the checkout goes (an emptyDir); the trainer runs there. */
export const SOURCE_DIR = '/work/src';
/** Where the trainer image holds its dependencies (serving/Dockerfile, target trainer). */
export const IMAGE_APP_DIR = '/app';

/**
 * The checkout, as a POSIX shell script run by the init container (the trainer
 * image has git): fetch exactly TRAINING_GIT_REF from TRAINING_GIT_REPOSITORY
 * (depth 1), refuse a package-lock.json other than the one the image was built
 * with (its node_modules would not match the code), and link the image's
 * node_modules into the checkout. TRAINING_SRC_DIR and TRAINING_APP_DIR
 * default to the paths above (tests run it on a real git repository).
 */
export const CHECKOUT_SCRIPT = `set -eu
src="\${TRAINING_SRC_DIR:-${SOURCE_DIR}}"
app="\${TRAINING_APP_DIR:-${IMAGE_APP_DIR}}"
git init -q "$src"
cd "$src"
git fetch -q --depth 1 "$TRAINING_GIT_REPOSITORY" "$TRAINING_GIT_REF"
git -c advice.detachedHead=false checkout -q FETCH_HEAD
if ! cmp -s package-lock.json "$app/package-lock.json"; then
  echo "package-lock.json at $TRAINING_GIT_REF is not the one the trainer image was built with: build the trainer image from it (.github/workflows/image.yml) or train on the runner" >&2
  exit 3
fi
ln -s "$app/node_modules" node_modules
echo "checked out $(git rev-parse HEAD) ($TRAINING_GIT_REF of $TRAINING_GIT_REPOSITORY)"
`;

/**
 * The checkout is an emptyDir, which the kubelet creates owned by root: git
 * (2.35.2 and later) refuses to work in a repository another user owns
 * ("detected dubious ownership") unless it is marked safe. Both containers
 * get the mark through git's environment configuration (GIT_CONFIG_COUNT,
 * https://git-scm.com/docs/git-config#ENVIRONMENT): the checkout, and the
 * trainer, which reads the commit it trains.
 */
export const SAFE_CHECKOUT_ENV: readonly V1EnvVar[] = [
  { name: 'GIT_CONFIG_COUNT', value: '1' },
  { name: 'GIT_CONFIG_KEY_0', value: 'safe.directory' },
  { name: 'GIT_CONFIG_VALUE_0', value: SOURCE_DIR },
];

export interface TrainingJobSpec {
  /** Job name (DNS-1123 label, at most 63 characters). */
  name: string;
  namespace: string;
  /** The trainer image (serving/Dockerfile target trainer: node, git, the dependencies of package-lock.json). */
  image: string;
  /** What the Job checks out and trains: the repository URL and the ref (a commit, usually the PR head). */
  git?: { repository: string; ref: string };
  /** The main container's name (default {@link TRAINER_CONTAINER}); batch scoring's is `scorer`. */
  container?: string;
  /** Command; default: the image's entrypoint. */
  command?: string[];
  /** Arguments; default: the template container's (manifests/training-job: `npm run ci:train`). */
  args?: string[];
  env?: Record<string, string>;
  /** GPUs per pod (limit `nvidia.com/gpu`); 0 for a CPU-only run. Default 1. */
  gpus?: number;
  /** Default: `{"nvidia.com/gpu.present": "true"}` (NVIDIA GPU feature discovery label). */
  nodeSelector?: Record<string, string>;
  /** Default: tolerate the `nvidia.com/gpu` NoSchedule taint of GPU pools. */
  tolerations?: V1Toleration[];
  /** CPU/memory requests (and memory limit); defaults 2 CPU, 8Gi. */
  cpu?: string;
  memory?: string;
  serviceAccountName?: string;
  labels?: Record<string, string>;
  /** Default 0: a failed training run is not retried blindly. */
  backoffLimit?: number;
  /** Default 6 hours. */
  activeDeadlineSeconds?: number;
  /** Default 1 day. */
  ttlSecondsAfterFinished?: number;
}

const DEFAULT_NODE_SELECTOR = { 'nvidia.com/gpu.present': 'true' };
const DEFAULT_TOLERATIONS: V1Toleration[] = [{ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' }];

/** Read the first `kind: Job` document of the YAML files in `dir`; undefined when the folder has none. */
export async function loadJobTemplate(dir: string): Promise<V1Job | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir))
      .filter((n) => /\.ya?ml$/.test(n) && !/^kustomization\.ya?ml$/.test(n))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  for (const n of names) {
    const file = join(dir, n);
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length > 0) {
        throw new ProjectError('INVALID', `${file}: not valid YAML (${doc.errors[0]?.message})`, {
          subject: file,
          cause: doc.errors[0],
        });
      }
      const obj = doc.toJS() as { kind?: string } | null;
      // Through the client's serializer, so JSON names map onto its model's property names.
      if (obj?.kind === 'Job') return loadYaml<V1Job>(JSON.stringify(obj));
    }
  }
  return undefined;
}

const SOURCE_VOLUME = 'src';

/** The source folder's mount, added when the Job checks out a revision. */
function withMount(mounts: V1VolumeMount[], git: TrainingJobSpec['git']): V1VolumeMount[] {
  if (!git || mounts.some((m) => m.mountPath === SOURCE_DIR)) return mounts;
  return [...mounts, { name: SOURCE_VOLUME, mountPath: SOURCE_DIR }];
}

function withSourceVolume(volumes: V1Volume[], git: TrainingJobSpec['git']): V1Volume[] {
  if (!git || volumes.some((v) => v.name === SOURCE_VOLUME)) return volumes;
  return [...volumes, { name: SOURCE_VOLUME, emptyDir: { sizeLimit: '2Gi' } }];
}

/**
 * The checkout init container: the template's (resources, security context)
 * when it has one, with the image, the script, the git variables and the
 * mounts always set here.
 */
function checkoutContainer(tpl: V1Container | undefined, image: string, gitEnv: V1EnvVar[]): V1Container {
  return {
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
    ...tpl,
    name: CHECKOUT_CONTAINER,
    image,
    command: ['sh', '-c', CHECKOUT_SCRIPT],
    args: [],
    env: [
      ...(tpl?.env ?? []).filter((e) => !gitEnv.some((g) => g.name === e.name)),
      ...gitEnv,
      ...(tpl?.env?.some((e) => e.name === 'HOME') ? [] : [{ name: 'HOME', value: '/tmp' }]),
    ],
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      ...(tpl?.securityContext ?? {}),
    },
    volumeMounts: withMount(tpl?.volumeMounts ?? [{ name: 'tmp', mountPath: '/tmp' }], {
      repository: '',
      ref: '',
    }),
  };
}

/** Build the Job: the template (if any) with every run-specific field set from `spec`. */
export function buildTrainingJob(spec: TrainingJobSpec, template?: V1Job): V1Job {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(spec.name)) {
    throw new ProjectError(
      'USAGE',
      `Job name "${spec.name}" is not a DNS-1123 label (lowercase letters, digits, '-', at most 63)`,
      {
        subject: spec.name,
      },
    );
  }
  const base: V1Job = structuredClone(template ?? {});
  const tplSpec = base.spec?.template?.spec;
  const tplContainers = tplSpec?.containers ?? [];
  const main = spec.container ?? TRAINER_CONTAINER;
  const tplContainer: V1Container = tplContainers.find((c) => c.name === main) ??
    tplContainers[0] ?? { name: main };
  const gitEnv = spec.git
    ? [
        { name: 'TRAINING_GIT_REPOSITORY', value: spec.git.repository },
        { name: 'TRAINING_GIT_REF', value: spec.git.ref },
        ...SAFE_CHECKOUT_ENV,
      ]
    : [];
  const container = trainerContainer(tplContainer, spec, gitEnv);
  const initContainers = spec.git
    ? [
        checkoutContainer(
          tplSpec?.initContainers?.find((c) => c.name === CHECKOUT_CONTAINER),
          spec.image,
          gitEnv,
        ),
        ...(tplSpec?.initContainers ?? []).filter((c) => c.name !== CHECKOUT_CONTAINER),
      ]
    : tplSpec?.initContainers;
  const labels = {
    ...(base.metadata?.labels ?? {}),
    'app.kubernetes.io/name': 'training',
    'app.kubernetes.io/component': 'trainer',
    ...(spec.labels ?? {}),
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { ...(base.metadata ?? {}), name: spec.name, namespace: spec.namespace, labels },
    spec: {
      ...(base.spec ?? {}),
      backoffLimit: spec.backoffLimit ?? base.spec?.backoffLimit ?? 0,
      activeDeadlineSeconds: spec.activeDeadlineSeconds ?? base.spec?.activeDeadlineSeconds ?? 6 * 3600,
      ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished ?? base.spec?.ttlSecondsAfterFinished ?? 86400,
      template: {
        ...(base.spec?.template ?? {}),
        metadata: {
          ...(base.spec?.template?.metadata ?? {}),
          labels: { ...(base.spec?.template?.metadata?.labels ?? {}), ...labels },
        },
        spec: {
          ...(tplSpec ?? {}),
          restartPolicy: 'Never',
          ...(spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
          nodeSelector: spec.nodeSelector ?? tplSpec?.nodeSelector ?? DEFAULT_NODE_SELECTOR,
          tolerations: spec.tolerations ?? tplSpec?.tolerations ?? DEFAULT_TOLERATIONS,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
            ...(tplSpec?.securityContext ?? {}),
          },
          ...(initContainers ? { initContainers } : {}),
          containers: [container, ...tplContainers.filter((c) => c !== tplContainer)],
          volumes: withSourceVolume(tplSpec?.volumes ?? [{ name: 'tmp', emptyDir: {} }], spec.git),
        },
      },
    },
  };
}

/**
 * The trainer container: the template's, with the image, the env (the
 * template's, then `spec.env` sorted, the result file and the git
 * variables), the resources, the termination message and the mounts set
 * from `spec`.
 */
function trainerContainer(tpl: V1Container, spec: TrainingJobSpec, gitEnv: V1EnvVar[]): V1Container {
  const env = new Map((tpl.env ?? []).map((e) => [e.name, e]));
  for (const [name, value] of Object.entries(spec.env ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    env.set(name, { name, value });
  env.set(RESULT_FILE_ENV, { name: RESULT_FILE_ENV, value: TERMINATION_MESSAGE_PATH });
  for (const e of gitEnv) env.set(e.name, e);
  return {
    ...tpl,
    name: spec.container ?? TRAINER_CONTAINER,
    image: spec.image,
    ...(spec.command ? { command: spec.command } : {}),
    ...(spec.args ? { args: spec.args } : {}),
    env: [...env.values()],
    resources: trainerResources(tpl, spec),
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      ...(tpl.securityContext ?? {}),
    },
    volumeMounts: withMount(tpl.volumeMounts ?? [{ name: 'tmp', mountPath: '/tmp' }], spec.git),
    ...(spec.git ? { workingDir: SOURCE_DIR } : {}),
  };
}

/**
 * The trainer's requests and limits: CPU and memory from `spec`, else the
 * template's, else 2 CPU and 8Gi; the GPUs as both request and limit (an
 * extended resource's request must equal its limit), none for 0.
 */
function trainerResources(tpl: V1Container, spec: TrainingJobSpec): V1ResourceRequirements {
  const gpus = spec.gpus ?? 1;
  const limits: Record<string, string> = {
    ...(tpl.resources?.limits ?? {}),
    memory: spec.memory ?? tpl.resources?.limits?.memory ?? '8Gi',
  };
  if (spec.cpu && limits.cpu) limits.cpu = spec.cpu;
  if (gpus > 0) limits[GPU_RESOURCE] = String(gpus);
  else delete limits[GPU_RESOURCE];
  const requests: Record<string, string> = {
    ...(tpl.resources?.requests ?? {}),
    cpu: spec.cpu ?? tpl.resources?.requests?.cpu ?? '2',
    memory: spec.memory ?? tpl.resources?.requests?.memory ?? '8Gi',
  };
  if (gpus > 0) requests[GPU_RESOURCE] = String(gpus);
  else delete requests[GPU_RESOURCE];
  return { requests, limits };
}
