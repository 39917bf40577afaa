/**
 * Reading a finished training Job: its final state from the Job's conditions
 * (https://kubernetes.io/docs/concepts/workloads/controllers/job/#terminal-job-conditions),
 * the trainer's exit code from the pod, and the training result JSON: the last
 * log line that is a JSON object, or else the container's termination message
 * (https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/).
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { TRAINER_CONTAINER } from './manifest.ts';

/** 'succeeded' / 'failed' once a terminal condition (Complete / Failed) is True, else undefined. */
export function jobOutcome(
  job: V1Job,
): { state: 'succeeded' | 'failed'; reason?: string; message?: string } | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return { state: 'succeeded', reason: c.reason, message: c.message };
    if (c.type === 'Failed') return { state: 'failed', reason: c.reason, message: c.message };
  }
  return undefined;
}

/** The last line of `text` that parses as a JSON object, or undefined. */
export function parseResultLine(text: string): Record<string, unknown> | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]?.trim();
    if (!line) continue;
    if (!line.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* not the result line */
    }
  }
  return undefined;
}

/** The terminated state of `container` (default the trainer) in a pod, if it has ended. */
export function trainerTermination(
  pod: V1Pod | undefined,
  container: string = TRAINER_CONTAINER,
): { exitCode: number; message?: string; reason?: string } | undefined {
  const statuses = pod?.status?.containerStatuses ?? [];
  const st = statuses.find((s) => s.name === container) ?? statuses[0];
  const t = st?.state?.terminated ?? st?.lastState?.terminated;
  return t ? { exitCode: t.exitCode, message: t.message, reason: t.reason } : undefined;
}
