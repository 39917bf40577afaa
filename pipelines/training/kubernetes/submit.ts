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
  constructor(private readonly out: NodeJS.WritableStream) {
    super();
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
  const fail = (e: unknown, what: string): never => {
    throw (
      clusterErrorOf(e, cluster, what) ??
      new ProjectError(
        'UNAVAILABLE',
        `${what} on ${cluster.server} failed: ${apiMessageOf(e)} [${cluster.source}]`,
        { subject: where, cause: e },
      )
    );
  };

  let job: V1Job;
  try {
    job = await batch.createNamespacedJob({ namespace, body: manifest });
  } catch (e) {
    if (e instanceof ApiException && e.code === 409) {
      throw new ProjectError('CONFLICT', `${where} already exists on ${cluster.server}`, {
        subject: where,
        hint: `choose another --job-name, or delete it: kubectl -n ${namespace} delete job ${name}`,
        cause: e,
      });
    }
    return fail(e, `creating ${where}`);
  }
  log(`submitted ${where}${opts.what ? ` (${opts.what})` : ''}`);

  const labelSelector = selectorToString(job.spec?.selector) || `batch.kubernetes.io/job-name=${name}`;
  const deadlineSeconds = manifest.spec?.activeDeadlineSeconds ?? 6 * 3600;
  const deadline = now() + (opts.timeoutMs ?? (deadlineSeconds + 300) * 1000);
  let delay = opts.pollMs ?? 1000;
  const maxDelay = opts.maxPollMs ?? 10_000;
  const streams = new Map<string, { tee: TeeTail; done: Promise<void>; abort?: AbortController }>();
  let logError: string | undefined;
  let lastPod: V1Pod | undefined;
  let seen: V1Pod[] = [];

  const startLogs = async (pod: V1Pod) => {
    const podName = pod.metadata?.name ?? '';
    if (streams.has(podName) || opts.followLogs === false) return;
    const tee = new TeeTail(deps.stdout);
    const done = new Promise<void>((resolve) => {
      tee.on('finish', () => resolve());
      tee.on('error', () => resolve());
    });
    const entry: { tee: TeeTail; done: Promise<void>; abort?: AbortController } = { tee, done };
    streams.set(podName, entry);
    try {
      entry.abort = await new Log(cluster.kubeConfig).log(namespace, podName, opts.container, tee, {
        follow: true,
      });
    } catch (e) {
      logError = `logs of pod ${podName}: ${apiMessageOf(e)}`;
      log(`warning: cannot stream ${logError}; the result will come from the pod's termination message`);
      tee.end();
    }
  };

  const onAbort = async () => {
    await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }).catch(() => {});
  };

  for (;;) {
    if (opts.signal?.aborted) {
      await onAbort();
      for (const s of streams.values()) s.abort?.abort();
      throw new ProjectError('INTERRUPTED', `${where} cancelled; it was deleted with its pods`, {
        subject: where,
      });
    }
    try {
      job = await batch.readNamespacedJob({ name, namespace });
    } catch (e) {
      fail(e, `reading ${where}`);
    }
    let pods: V1Pod[] = [];
    try {
      pods = (await core.listNamespacedPod({ namespace, labelSelector })).items;
    } catch (e) {
      fail(e, `listing pods of ${where}`);
    }
    pods.sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
    );
    for (const p of pods) {
      if (['Running', 'Succeeded', 'Failed'].includes(p.status?.phase ?? '')) await startLogs(p);
    }
    lastPod = pods.at(-1) ?? lastPod;
    if (pods.length > 0) seen = pods;
    const outcome = jobOutcome(job);
    if (outcome) {
      // Let the log streams drain (they end when the containers do), but not forever.
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 15_000);
      });
      if (streams.size > 0)
        await Promise.race([Promise.all([...streams.values()].map((s) => s.done)), grace]);
      clearTimeout(timer);
      for (const s of streams.values()) s.abort?.abort();
      const resultOf = (pod: V1Pod | undefined) => {
        const term = trainerTermination(pod, opts.container);
        const stream = pod?.metadata?.name ? streams.get(pod.metadata.name) : undefined;
        const fromLogs = stream ? parseResultLine(stream.tee.text) : undefined;
        const fromTerm = term?.message ? parseResultLine(term.message) : undefined;
        return { term, fromLogs, fromTerm };
      };
      const { term, fromLogs, fromTerm } = resultOf(lastPod);
      const result: JobResult = {
        jobName: name,
        namespace,
        state: outcome.state,
        reason: outcome.reason,
        message: outcome.message,
        podName: lastPod?.metadata?.name,
        exitCode: term?.exitCode,
        result: fromLogs ?? fromTerm,
        resultSource: fromLogs ? 'logs' : fromTerm ? 'termination-message' : undefined,
        logs: { streamed: streams.size > 0 && !logError, ...(logError ? { error: logError } : {}) },
        pods: seen.map((p) => {
          const r = resultOf(p);
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
        `${where} ${outcome.state}${outcome.reason ? ` (${outcome.reason})` : ''}${term ? `, exit code ${term.exitCode}` : ''}`,
      );
      return result;
    }
    if (now() >= deadline) {
      for (const s of streams.values()) s.abort?.abort();
      const active = job.status?.active ?? 0;
      throw new ProjectError(
        'UNAVAILABLE',
        `${where} did not finish in time: ${active} active pod(s), last pod ${lastPod?.metadata?.name ?? 'none'} ${lastPod?.status?.phase ?? ''}`.trim(),
        {
          subject: where,
          hint: `it is still in the cluster: kubectl -n ${namespace} describe job ${name}`,
        },
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - now())));
    delay = Math.min(maxDelay, delay * 2);
  }
}
