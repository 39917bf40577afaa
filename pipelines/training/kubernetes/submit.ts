/**
 * submitJob: create a batch/v1 Job through the API server, follow its pods'
 * logs to a stream, wait for the Job's terminal condition, and return the
 * outcome with each pod's result JSON. submitTrainingJob builds the training
 * Job and submits it so; batch scoring's Indexed Job (pipelines/scoring)
 * goes the same way.
 */
import { Writable } from 'node:stream';
import { ApiException, BatchV1Api, CoreV1Api, Log, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { sleep as realSleep } from '../../../platform/clock.ts';
import { ProjectError } from '../../../platform/errors.ts';
import { apiMessageOf, type Cluster, clusterErrorOf } from '../../../platform/kube/cluster.ts';
import { selectorToString } from '../../verify/checks.ts';
import { buildTrainingJob, loadJobTemplate, TRAINER_CONTAINER, type TrainingJobSpec } from './manifest.ts';
import { jobOutcome, parseResultLine, trainerTermination } from './result.ts';

export interface SubmitTrainingJobOptions extends TrainingJobSpec, SubmitJobOptions {
  /** Folder with the Job template (manifests/training-job); default: build the Job in code. */
  templateDir?: string;
}

/** How a built Job is submitted and followed. */
export interface SubmitJobOptions {
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

export type SubmitJobDeps = SubmitTrainingJobDeps;

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
  /** Every pod of the Job, oldest first, with its completion index (Indexed Jobs) and its result. */
  pods: JobPod[];
}

export type JobResult = TrainingJobResult;

/** The annotation with an Indexed Job pod's index (https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode). */
export const COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';

/** One pod of a finished Job. */
export interface JobPod {
  name: string;
  /** `batch.kubernetes.io/job-completion-index` of an Indexed Job's pod. */
  index?: number;
  phase?: string;
  exitCode?: number;
  result?: Record<string, unknown>;
}

/** Keeps the tail of what passes through, and forwards every byte to `out`. */
class TeeTail extends Writable {
  text = '';
  private readonly out: NodeJS.WritableStream;
  constructor(out: NodeJS.WritableStream) {
    super();
    this.out = out;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-64 * 1024);
    this.out.write(chunk, () => cb());
  }
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
  const template = opts.templateDir ? await loadJobTemplate(opts.templateDir) : undefined;
  const manifest = buildTrainingJob(opts, template);
  return submitJob(
    manifest,
    {
      ...opts,
      container: TRAINER_CONTAINER,
      what: `image ${opts.image}${(opts.gpus ?? 1) > 0 ? `, ${opts.gpus ?? 1} GPU` : ''}`,
    },
    deps,
  );
}

/**
 * Submit a built Job (`manifest`, with its name and namespace) and follow it
 * as {@link submitTrainingJob} does: the logs of `container` in each pod,
 * and each pod's result JSON.
 */
export async function submitJob(
  manifest: V1Job,
  opts: SubmitJobOptions & { container: string; what?: string },
  deps: SubmitJobDeps,
): Promise<JobResult> {
  const { cluster } = deps;
  const log = deps.log ?? (() => {});
  const sleep = deps.sleep ?? realSleep;
  const now = deps.now ?? Date.now;
  const name = manifest.metadata?.name ?? '';
  const namespace = manifest.metadata?.namespace ?? 'default';
  const batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const where = `Job ${namespace}/${name}`;
  let job = await createJob(batch, manifest, { cluster, name, namespace, where });
  log(`submitted ${where}${opts.what ? ` (${opts.what})` : ''}`);

  const labelSelector = selectorToString(job.spec?.selector) || `batch.kubernetes.io/job-name=${name}`;
  const deadlineSeconds = manifest.spec?.activeDeadlineSeconds ?? 6 * 3600;
  const deadline = now() + (opts.timeoutMs ?? (deadlineSeconds + 300) * 1000);
  let delay = opts.pollMs ?? 1000;
  const maxDelay = opts.maxPollMs ?? 10_000;
  const logs = new PodLogs(cluster, namespace, opts.container, opts.followLogs !== false, deps.stdout, log);
  let lastPod: V1Pod | undefined;
  let seen: V1Pod[] = [];

  for (;;) {
    if (opts.signal?.aborted) {
      await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }).catch(() => {});
      logs.stop();
      throw new ProjectError('INTERRUPTED', `${where} cancelled; it was deleted with its pods`, {
        subject: where,
      });
    }
    try {
      job = await batch.readNamespacedJob({ name, namespace });
    } catch (e) {
      throw apiFailure(e, cluster, `reading ${where}`, where);
    }
    let pods: V1Pod[] = [];
    try {
      pods = (await core.listNamespacedPod({ namespace, labelSelector })).items;
    } catch (e) {
      throw apiFailure(e, cluster, `listing pods of ${where}`, where);
    }
    pods.sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
    );
    for (const p of pods) {
      if (['Running', 'Succeeded', 'Failed'].includes(p.status?.phase ?? '')) await logs.follow(p);
    }
    lastPod = pods.at(-1) ?? lastPod;
    if (pods.length > 0) seen = pods;
    const outcome = jobOutcome(job);
    if (outcome) {
      await logs.drain();
      logs.stop();
      return finishedJob({ name, namespace, where, outcome, lastPod, seen }, logs, opts.container, log);
    }
    if (now() >= deadline) {
      logs.stop();
      throw notFinishedInTime(job, lastPod, { name, namespace, where });
    }
    await sleep(Math.min(delay, Math.max(0, deadline - now())));
    delay = Math.min(maxDelay, delay * 2);
  }
}

/** The Job's name, namespace and how messages name it (`Job <namespace>/<name>`). */
interface JobRef {
  name: string;
  namespace: string;
  where: string;
}

/** The error for a failed API call: the cluster's own (unreachable, unauthorized...), else UNAVAILABLE naming the call. */
function apiFailure(e: unknown, cluster: Cluster, what: string, where: string): ProjectError {
  return (
    clusterErrorOf(e, cluster, what) ??
    new ProjectError(
      'UNAVAILABLE',
      `${what} on ${cluster.server} failed: ${apiMessageOf(e)} [${cluster.source}]`,
      {
        subject: where,
        cause: e,
      },
    )
  );
}

/** Create the Job: CONFLICT when one of that name exists, else the API's failure. */
async function createJob(
  batch: BatchV1Api,
  manifest: V1Job,
  { cluster, name, namespace, where }: JobRef & { cluster: Cluster },
): Promise<V1Job> {
  try {
    return await batch.createNamespacedJob({ namespace, body: manifest });
  } catch (e) {
    if (e instanceof ApiException && e.code === 409) {
      throw new ProjectError('CONFLICT', `${where} already exists on ${cluster.server}`, {
        subject: where,
        hint: `choose another --job-name, or delete it: kubectl -n ${namespace} delete job ${name}`,
        cause: e,
      });
    }
    throw apiFailure(e, cluster, `creating ${where}`, where);
  }
}

/** UNAVAILABLE for a Job still running at the deadline, naming its last pod; it stays in the cluster. */
function notFinishedInTime(
  job: V1Job,
  lastPod: V1Pod | undefined,
  { name, namespace, where }: JobRef,
): ProjectError {
  const active = job.status?.active ?? 0;
  return new ProjectError(
    'UNAVAILABLE',
    `${where} did not finish in time: ${active} active pod(s), last pod ${lastPod?.metadata?.name ?? 'none'} ${lastPod?.status?.phase ?? ''}`.trim(),
    {
      subject: where,
      hint: `it is still in the cluster: kubectl -n ${namespace} describe job ${name}`,
    },
  );
}

/** One pod's log stream: the tail it keeps, when it ended, and how to stop it. */
interface LogStream {
  tee: TeeTail;
  done: Promise<void>;
  abort?: AbortController;
}

/**
 * The log streams of a Job's pods (of one container): each pod's followed
 * once into `stdout`, with its tail kept for the result line. A stream that
 * cannot be opened is a warning, not a failure: the result then comes from
 * the pod's termination message.
 */
class PodLogs {
  private readonly streams = new Map<string, LogStream>();
  /** Why the last stream that could not be opened could not. */
  private error: string | undefined;

  private readonly cluster: Cluster;
  private readonly namespace: string;
  private readonly container: string;
  private readonly enabled: boolean;
  private readonly stdout: NodeJS.WritableStream;
  private readonly log: (line: string) => void;

  constructor(
    cluster: Cluster,
    namespace: string,
    container: string,
    enabled: boolean,
    stdout: NodeJS.WritableStream,
    log: (line: string) => void,
  ) {
    this.cluster = cluster;
    this.namespace = namespace;
    this.container = container;
    this.enabled = enabled;
    this.stdout = stdout;
    this.log = log;
  }

  /** Start following `pod`'s logs, unless they are followed already (or not at all). */
  async follow(pod: V1Pod): Promise<void> {
    const podName = pod.metadata?.name ?? '';
    if (this.streams.has(podName) || !this.enabled) return;
    const tee = new TeeTail(this.stdout);
    const done = new Promise<void>((resolve) => {
      tee.on('finish', () => resolve());
      tee.on('error', () => resolve());
    });
    const entry: LogStream = { tee, done };
    this.streams.set(podName, entry);
    try {
      entry.abort = await new Log(this.cluster.kubeConfig).log(this.namespace, podName, this.container, tee, {
        follow: true,
      });
    } catch (e) {
      this.error = `logs of pod ${podName}: ${apiMessageOf(e)}`;
      this.log(
        `warning: cannot stream ${this.error}; the result will come from the pod's termination message`,
      );
      tee.end();
    }
  }

  /** Let the streams drain (they end when the containers do), but not forever: 15 s at most. */
  async drain(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 15_000);
    });
    if (this.streams.size > 0)
      await Promise.race([Promise.all([...this.streams.values()].map((s) => s.done)), grace]);
    clearTimeout(timer);
  }

  /** Stop every stream still open. */
  stop(): void {
    for (const s of this.streams.values()) s.abort?.abort();
  }

  /** What a pod's logs kept (their tail), when they were followed. */
  tailOf(pod: V1Pod | undefined): string | undefined {
    return pod?.metadata?.name ? this.streams.get(pod.metadata.name)?.tee.text : undefined;
  }

  /** Whether the logs were streamed, with the reason when one could not be. */
  summary(): JobResult['logs'] {
    return { streamed: this.streams.size > 0 && !this.error, ...(this.error ? { error: this.error } : {}) };
  }
}

/** A pod's container termination and its result JSON, from its logs and from its termination message. */
function podResult(pod: V1Pod | undefined, container: string, logs: PodLogs) {
  const term = trainerTermination(pod, container);
  const tail = logs.tailOf(pod);
  const fromLogs = tail !== undefined ? parseResultLine(tail) : undefined;
  const fromTerm = term?.message ? parseResultLine(term.message) : undefined;
  return { term, fromLogs, fromTerm };
}

/**
 * The outcome of a finished Job: its terminal condition, its last pod's exit
 * code and result, every pod's; logged in one line.
 */
function finishedJob(
  job: JobRef & {
    outcome: NonNullable<ReturnType<typeof jobOutcome>>;
    lastPod: V1Pod | undefined;
    seen: V1Pod[];
  },
  logs: PodLogs,
  container: string,
  log: (line: string) => void,
): JobResult {
  const { outcome, lastPod } = job;
  const { term, fromLogs, fromTerm } = podResult(lastPod, container, logs);
  const result: JobResult = {
    jobName: job.name,
    namespace: job.namespace,
    state: outcome.state,
    reason: outcome.reason,
    message: outcome.message,
    podName: lastPod?.metadata?.name,
    exitCode: term?.exitCode,
    result: fromLogs ?? fromTerm,
    resultSource: fromLogs ? 'logs' : fromTerm ? 'termination-message' : undefined,
    logs: logs.summary(),
    pods: job.seen.map((p) => {
      const r = podResult(p, container, logs);
      const index = p.metadata?.annotations?.[COMPLETION_INDEX_ANNOTATION];
      const res = r.fromLogs ?? r.fromTerm;
      return {
        name: p.metadata?.name ?? '',
        ...(index !== undefined ? { index: Number(index) } : {}),
        ...(p.status?.phase ? { phase: p.status.phase } : {}),
        ...(r.term ? { exitCode: r.term.exitCode } : {}),
        ...(res ? { result: res } : {}),
      };
    }),
  };
  log(
    `${job.where} ${outcome.state}${outcome.reason ? ` (${outcome.reason})` : ''}${term ? `, exit code ${term.exitCode}` : ''}`,
  );
  return result;
}
