/**
 * submitTrainingJob: create the training Job through the API server, follow
 * its pod's logs to a stream, wait for the Job's terminal condition, and
 * return the outcome with the trainer's result JSON.
 */
import { Writable } from 'node:stream';
import { ApiException, BatchV1Api, CoreV1Api, Log, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { sleep as realSleep } from '../../../platform/clock.ts';
import { ProjectError } from '../../../platform/errors.ts';
import { apiMessageOf, type Cluster, clusterErrorOf } from '../../../platform/kube/cluster.ts';
import { selectorToString } from '../../verify/checks.ts';
import { buildTrainingJob, loadJobTemplate, TRAINER_CONTAINER, type TrainingJobSpec } from './manifest.ts';
import { jobOutcome, parseResultLine, trainerTermination } from './result.ts';

export interface SubmitTrainingJobOptions extends TrainingJobSpec {
  /** Folder with the Job template (manifests/training-job); default: build the Job in code. */
  templateDir?: string;
  /** Give up waiting after this long (ms); default: the Job's activeDeadlineSeconds + 5 minutes. */
  timeoutMs?: number;
  /** Poll interval start (default 1000 ms), doubled up to maxPollMs (default 10000 ms). */
  pollMs?: number;
  maxPollMs?: number;
  /** Follow the pod's logs (default true). */
  followLogs?: boolean;
  /** Abort: the Job is deleted (with its pods) and the call rejects with INTERRUPTED. */
  signal?: AbortSignal;
}

export interface SubmitTrainingJobDeps {
  cluster: Cluster;
  /** Where the trainer's log lines go (e.g. process.stdout). */
  stdout: NodeJS.WritableStream;
  /** Progress and warnings (e.g. console.error). */
  log?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface TrainingJobResult {
  jobName: string;
  namespace: string;
  /** From the Job's terminal condition (Complete → succeeded, Failed → failed). */
  state: 'succeeded' | 'failed';
  /** The condition's reason/message, e.g. BackoffLimitExceeded. */
  reason?: string;
  message?: string;
  /** The pod that ran last, and its trainer container's exit code when known. */
  podName?: string;
  exitCode?: number;
  /** The training result JSON (last JSON line of the logs, else the termination message). */
  result?: Record<string, unknown>;
  resultSource?: 'logs' | 'termination-message';
  /** Whether the logs were streamed; false with the reason when the API server could not serve them. */
  logs: { streamed: boolean; error?: string };
}

/** Keeps the tail of what passes through, and forwards every byte to `out`. */
class TeeTail extends Writable {
  text = '';
  constructor(private readonly out: NodeJS.WritableStream) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-64 * 1024);
    this.out.write(chunk, () => cb());
  }
}

/** The trainer's log streams, one per pod, each teed to stdout with its tail kept. */
class PodLogs {
  readonly streams = new Map<string, { tee: TeeTail; done: Promise<void>; abort?: AbortController }>();
  /** Why a stream could not be opened, when one could not. */
  error: string | undefined;

  constructor(
    private readonly w: JobWatch,
    private readonly stdout: NodeJS.WritableStream,
  ) {}

  /** Follow the trainer container's log of `pod`, once per pod. */
  async follow(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? '';
    if (this.streams.has(name) || this.w.opts.followLogs === false) return;
    const tee = new TeeTail(this.stdout);
    const done = new Promise<void>((resolve) => {
      tee.on('finish', () => resolve());
      tee.on('error', () => resolve());
    });
    const entry: { tee: TeeTail; done: Promise<void>; abort?: AbortController } = { tee, done };
    this.streams.set(name, entry);
    try {
      entry.abort = await new Log(this.w.cluster.kubeConfig).log(
        this.w.opts.namespace,
        name,
        TRAINER_CONTAINER,
        tee,
        {
          follow: true,
        },
      );
    } catch (e) {
      this.error = `logs of pod ${name}: ${apiMessageOf(e)}`;
      this.w.log(
        `warning: cannot stream ${this.error}; the result will come from the pod's termination message`,
      );
      tee.end();
    }
  }

  /** Wait for the stream of `podName` to end (it does when the container does), at most 15 s; its tail. */
  async drain(podName: string | undefined): Promise<string | undefined> {
    const last = podName ? this.streams.get(podName) : undefined;
    if (!last) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 15_000);
    });
    await Promise.race([last.done, grace]);
    clearTimeout(timer);
    return last.tee.text;
  }

  stopAll(): void {
    for (const s of this.streams.values()) s.abort?.abort();
  }
}

/** One submission: the Job's name and place, and the clients it goes through. */
interface JobWatch {
  opts: SubmitTrainingJobOptions;
  cluster: Cluster;
  batch: BatchV1Api;
  core: CoreV1Api;
  /** `Job <namespace>/<name>`, for messages. */
  where: string;
  log: (line: string) => void;
}

/**
 * Submit the Job and wait for it. Resolves with the outcome for a Job that
 * completed or failed (a failed training is a result, not an exception:
 * the caller exits 1); rejects with CONFLICT when a Job of that name exists,
 * UNAVAILABLE when the cluster does not answer or the wait times out,
 * INTERRUPTED when `signal` aborts.
 */
export async function submitTrainingJob(
  opts: SubmitTrainingJobOptions,
  deps: SubmitTrainingJobDeps,
): Promise<TrainingJobResult> {
  const { cluster } = deps;
  const sleep = deps.sleep ?? realSleep;
  const now = deps.now ?? Date.now;
  const w: JobWatch = {
    opts,
    cluster,
    batch: cluster.kubeConfig.makeApiClient(BatchV1Api),
    core: cluster.kubeConfig.makeApiClient(CoreV1Api),
    where: `Job ${opts.namespace}/${opts.name}`,
    log: deps.log ?? (() => {}),
  };
  const template = opts.templateDir ? await loadJobTemplate(opts.templateDir) : undefined;
  const manifest = buildTrainingJob(opts, template);
  const created = await createJob(w, manifest);
  const labelSelector =
    selectorToString(created.spec?.selector) || `batch.kubernetes.io/job-name=${opts.name}`;
  const deadlineSeconds = manifest.spec?.activeDeadlineSeconds ?? 6 * 3600;
  const deadline = now() + (opts.timeoutMs ?? (deadlineSeconds + 300) * 1000);
  let delay = opts.pollMs ?? 1000;
  const maxDelay = opts.maxPollMs ?? 10_000;
  const logs = new PodLogs(w, deps.stdout);
  let lastPod: V1Pod | undefined;

  for (;;) {
    if (opts.signal?.aborted) throw await cancel(w, logs);
    const job = await readJob(w);
    const pods = await listPods(w, labelSelector);
    for (const p of pods) {
      if (['Running', 'Succeeded', 'Failed'].includes(p.status?.phase ?? '')) await logs.follow(p);
    }
    lastPod = pods.at(-1) ?? lastPod;
    const outcome = jobOutcome(job);
    if (outcome) return finish(w, outcome, lastPod, logs);
    if (now() >= deadline) {
      logs.stopAll();
      throw timedOut(w, job, lastPod);
    }
    await sleep(Math.min(delay, Math.max(0, deadline - now())));
    delay = Math.min(maxDelay, delay * 2);
  }
}

/** The cluster's error for `what`: the one clusterErrorOf names, else UNAVAILABLE with the API's message. */
function failure(w: JobWatch, e: unknown, what: string): ProjectError {
  return (
    clusterErrorOf(e, w.cluster, what) ??
    new ProjectError(
      'UNAVAILABLE',
      `${what} on ${w.cluster.server} failed: ${apiMessageOf(e)} [${w.cluster.source}]`,
      { subject: w.where, cause: e },
    )
  );
}

/** Create the Job; CONFLICT when one of that name exists. */
async function createJob(w: JobWatch, manifest: V1Job): Promise<V1Job> {
  const { opts, where } = w;
  let job: V1Job;
  try {
    job = await w.batch.createNamespacedJob({ namespace: opts.namespace, body: manifest });
  } catch (e) {
    if (e instanceof ApiException && e.code === 409) {
      throw new ProjectError('CONFLICT', `${where} already exists on ${w.cluster.server}`, {
        subject: where,
        hint: `choose another --job-name, or delete it: kubectl -n ${opts.namespace} delete job ${opts.name}`,
        cause: e,
      });
    }
    throw failure(w, e, `creating ${where}`);
  }
  w.log(`submitted ${where} (image ${opts.image}${(opts.gpus ?? 1) > 0 ? `, ${opts.gpus ?? 1} GPU` : ''})`);
  return job;
}

async function readJob(w: JobWatch): Promise<V1Job> {
  try {
    return await w.batch.readNamespacedJob({ name: w.opts.name, namespace: w.opts.namespace });
  } catch (e) {
    throw failure(w, e, `reading ${w.where}`);
  }
}

/** The Job's pods, oldest first. */
async function listPods(w: JobWatch, labelSelector: string): Promise<V1Pod[]> {
  let pods: V1Pod[];
  try {
    pods = (await w.core.listNamespacedPod({ namespace: w.opts.namespace, labelSelector })).items;
  } catch (e) {
    throw failure(w, e, `listing pods of ${w.where}`);
  }
  return pods.sort((a, b) =>
    String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
  );
}

/** Delete the Job with its pods and stop the log streams; the INTERRUPTED error to throw. */
async function cancel(w: JobWatch, logs: PodLogs): Promise<ProjectError> {
  await w.batch
    .deleteNamespacedJob({ name: w.opts.name, namespace: w.opts.namespace, propagationPolicy: 'Background' })
    .catch(() => {});
  logs.stopAll();
  return new ProjectError('INTERRUPTED', `${w.where} cancelled; it was deleted with its pods`, {
    subject: w.where,
  });
}

/**
 * The outcome of a Job that reached its terminal condition, with the
 * trainer's result JSON: from the last pod's log stream once it drained,
 * else from its termination message.
 */
async function finish(
  w: JobWatch,
  outcome: NonNullable<ReturnType<typeof jobOutcome>>,
  lastPod: V1Pod | undefined,
  logs: PodLogs,
): Promise<TrainingJobResult> {
  const tail = await logs.drain(lastPod?.metadata?.name);
  logs.stopAll();
  const term = trainerTermination(lastPod);
  const fromLogs = tail !== undefined ? parseResultLine(tail) : undefined;
  const fromTerm = term?.message ? parseResultLine(term.message) : undefined;
  const result: TrainingJobResult = {
    jobName: w.opts.name,
    namespace: w.opts.namespace,
    state: outcome.state,
    reason: outcome.reason,
    message: outcome.message,
    podName: lastPod?.metadata?.name,
    exitCode: term?.exitCode,
    result: fromLogs ?? fromTerm,
    resultSource: fromLogs ? 'logs' : fromTerm ? 'termination-message' : undefined,
    logs: { streamed: logs.streams.size > 0 && !logs.error, ...(logs.error ? { error: logs.error } : {}) },
  };
  w.log(
    `${w.where} ${outcome.state}${outcome.reason ? ` (${outcome.reason})` : ''}${term ? `, exit code ${term.exitCode}` : ''}`,
  );
  return result;
}

/** The wait ran out: UNAVAILABLE, the Job left in the cluster to look at. */
function timedOut(w: JobWatch, job: V1Job, lastPod: V1Pod | undefined): ProjectError {
  const active = job.status?.active ?? 0;
  return new ProjectError(
    'UNAVAILABLE',
    `${w.where} did not finish in time: ${active} active pod(s), last pod ${lastPod?.metadata?.name ?? 'none'} ${lastPod?.status?.phase ?? ''}`.trim(),
    {
      subject: w.where,
      hint: `it is still in the cluster: kubectl -n ${w.opts.namespace} describe job ${w.opts.name}`,
    },
  );
}
