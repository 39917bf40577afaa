/**
 * The batch/v1 Job that runs training on a GPU node pool
 * (https://kubernetes.io/docs/concepts/workloads/controllers/job/). A template
 * in manifests/training-job/ (any YAML document of kind Job there) is the base
 * when present; otherwise the Job is built here. The run-specific parts (name,
 * image, env, GPU count; args when given) are always set from the options.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadYaml, type V1Container, type V1Job, type V1Toleration } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ProjectError } from '../../lib/errors.ts';

/** Container of the training Job whose logs and termination message carry the result. */
export const TRAINER_CONTAINER = 'trainer';
/** Env var that tells the trainer where to write its result JSON (the container's termination message). */
export const RESULT_FILE_ENV = 'TRAIN_RESULT_FILE';
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** GPU resource name of the NVIDIA device plugin. */
export const GPU_RESOURCE = 'nvidia.com/gpu';

export interface TrainingJobSpec {
  /** Job name (DNS-1123 label, at most 63 characters). */
  name: string;
  namespace: string;
  /** The project's container image (with scripts/train.ts inside). */
  image: string;
  /** Command; default: the image's entrypoint. */
  command?: string[];
  /** Arguments; default: the template container's (manifests/training-job: `npm run train:ci`). */
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
  const gpus = spec.gpus ?? 1;
  const tplSpec = base.spec?.template?.spec;
  const tplContainers = tplSpec?.containers ?? [];
  const tplContainer: V1Container = tplContainers.find((c) => c.name === TRAINER_CONTAINER) ??
    tplContainers[0] ?? { name: TRAINER_CONTAINER };
  const env = new Map((tplContainer.env ?? []).map((e) => [e.name, e]));
  for (const [name, value] of Object.entries(spec.env ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    env.set(name, { name, value });
  env.set(RESULT_FILE_ENV, { name: RESULT_FILE_ENV, value: TERMINATION_MESSAGE_PATH });
  const limits: Record<string, string> = {
    ...(tplContainer.resources?.limits ?? {}),
    memory: spec.memory ?? tplContainer.resources?.limits?.memory ?? '8Gi',
  };
  if (spec.cpu && limits.cpu) limits.cpu = spec.cpu;
  if (gpus > 0) limits[GPU_RESOURCE] = String(gpus);
  else delete limits[GPU_RESOURCE];
  const requests: Record<string, string> = {
    ...(tplContainer.resources?.requests ?? {}),
    cpu: spec.cpu ?? tplContainer.resources?.requests?.cpu ?? '2',
    memory: spec.memory ?? tplContainer.resources?.requests?.memory ?? '8Gi',
  };
  // An extended resource's request must equal its limit (or be left out).
  if (gpus > 0) requests[GPU_RESOURCE] = String(gpus);
  else delete requests[GPU_RESOURCE];
  const container: V1Container = {
    ...tplContainer,
    name: TRAINER_CONTAINER,
    image: spec.image,
    ...(spec.command ? { command: spec.command } : {}),
    ...(spec.args ? { args: spec.args } : {}),
    env: [...env.values()],
    resources: { requests, limits },
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      ...(tplContainer.securityContext ?? {}),
    },
    volumeMounts: tplContainer.volumeMounts ?? [{ name: 'tmp', mountPath: '/tmp' }],
  };
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
          containers: [container, ...tplContainers.filter((c) => c !== tplContainer)],
          volumes: tplSpec?.volumes ?? [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
  };
}
