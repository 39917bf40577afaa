/**
 * The three rollout checks as pure functions of the objects the API server
 * returned: each says ok or not, and one line of what it saw, for the report.
 *
 * - Argo CD Application: status.sync.status / status.health.status
 *   (https://argo-cd.readthedocs.io/en/stable/user-guide/sync-waves/ and
 *   https://argo-cd.readthedocs.io/en/stable/operator-manual/health/).
 * - Deployment: the same rule as `kubectl rollout status`
 *   (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status).
 * - Pods: Ready condition True, pin annotation (docs/contracts.md).
 * - A Deployment run by an Argo Rollouts Rollout (workloadRef): the Rollout's status.
 */
import type { V1Deployment, V1LabelSelector, V1Pod } from '@kubernetes/client-node';
import { PIN_ANNOTATIONS, SERVER_CONTAINER, VERSION_ENV } from '../../model/pin.ts';

/** Pod-template annotation that names the pinned model version (model/pin.ts). */
const VERSION_ANNOTATION = PIN_ANNOTATIONS.version;

/** The outcome of one check. `state: 'not tried'` when an earlier check had not passed yet. */
export interface CheckResult {
  ok: boolean;
  state: 'ok' | 'waiting' | 'not tried';
  /** One line: what was seen, e.g. "sync=OutOfSync health=Progressing". */
  detail: string;
}

export const ok = (detail: string): CheckResult => ({ ok: true, state: 'ok', detail });
export const waiting = (detail: string): CheckResult => ({ ok: false, state: 'waiting', detail });
export const notTried = (detail = 'not tried'): CheckResult => ({ ok: false, state: 'not tried', detail });

/** The fields of an Argo CD Application that the check reads (argoproj.io/v1alpha1). */
export interface ArgoApplication {
  metadata?: { name?: string; namespace?: string };
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
    operationState?: { phase?: string; message?: string };
  };
}

/** Synced and Healthy, and at `revision` (a git commit sha; a prefix of at least 7 matches) when given. */
export function checkApplication(app: ArgoApplication | undefined, revision?: string): CheckResult {
  if (!app) return waiting('not found');
  const sync = app.status?.sync?.status ?? 'Unknown';
  const health = app.status?.health?.status ?? 'Unknown';
  const seenRev = app.status?.sync?.revision;
  let detail = `sync=${sync} health=${health}`;
  if (revision) detail += ` revision=${seenRev ? seenRev.slice(0, 12) : 'none'}`;
  const op = app.status?.operationState;
  if (op?.phase && op.phase !== 'Succeeded')
    detail += ` operation=${op.phase}${op.message ? ` (${op.message})` : ''}`;
  const revOk = !revision || (seenRev !== undefined && revisionMatches(seenRev, revision));
  if (sync === 'Synced' && health === 'Healthy' && revOk) return ok(detail);
  if (revision && !revOk) detail += ` (expected ${revision})`;
  return waiting(detail);
}

function revisionMatches(seen: string, wanted: string): boolean {
  if (seen === wanted) return true;
  const [a, b] = seen.length < wanted.length ? [seen, wanted] : [wanted, seen];
  return a.length >= 7 && b.startsWith(a);
}

/** The model version a pod template names: its annotation, and the server container's env. */
export function templateVersions(dep: V1Deployment): { annotation?: string; env?: string } {
  const tpl = dep.spec?.template;
  const annotation = tpl?.metadata?.annotations?.[VERSION_ANNOTATION];
  const containers = tpl?.spec?.containers ?? [];
  const server = containers.find((c) => c.name === SERVER_CONTAINER) ?? containers[0];
  const env = server?.env?.find((e) => e.name === VERSION_ENV)?.value;
  return { annotation, env };
}

/**
 * Rollout complete (kubectl rollout status): observedGeneration >= generation,
 * updatedReplicas == replicas, no old replicas left, availableReplicas >= 1 and
 * == updatedReplicas; and the pod template names `version`.
 */
export function checkDeployment(dep: V1Deployment | undefined, version: string): CheckResult {
  if (!dep) return waiting('not found');
  const want = dep.spec?.replicas ?? 1;
  const st = dep.status ?? {};
  const updated = st.updatedReplicas ?? 0;
  const total = st.replicas ?? 0;
  const available = st.availableReplicas ?? 0;
  const { annotation, env } = templateVersions(dep);
  const parts = [`${updated}/${want} updated`, `${available} available`];
  if (total > updated) parts.push(`${total - updated} old`);
  parts.push(`template version ${annotation ?? 'none'}`);
  if (env !== undefined && env !== annotation) parts.push(`env ${VERSION_ENV}=${env}`);
  const problems: string[] = [];
  if ((st.observedGeneration ?? 0) < (dep.metadata?.generation ?? 0)) {
    problems.push(
      `generation ${dep.metadata?.generation} not observed yet (observed ${st.observedGeneration ?? 'none'})`,
    );
  }
  const stalled = st.conditions?.find(
    (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
  );
  if (stalled) problems.push(`progress deadline exceeded: ${stalled.message ?? ''}`.trim());
  if (annotation !== version)
    problems.push(`annotation ${VERSION_ANNOTATION} is ${annotation ?? 'missing'}, expected ${version}`);
  if (env !== undefined && env !== version) problems.push(`${VERSION_ENV} is ${env}, expected ${version}`);
  const complete = updated >= want && total <= updated && available >= 1 && available >= updated;
  const detail = [parts.join(', '), ...problems].join('; ');
  return complete && problems.length === 0 ? ok(detail) : waiting(detail);
}

/** The fields of an Argo Rollouts Rollout that {@link checkRolloutOfDeployment} reads (argoproj.io/v1alpha1). */
export interface ArgoRollout {
  metadata?: { name?: string };
  status?: {
    phase?: string;
    message?: string;
    abort?: boolean;
    stableRS?: string;
    currentPodHash?: string;
    availableReplicas?: number;
    /** The generation of the referenced Deployment the Rollout last read (a string). */
    workloadObservedGeneration?: string;
  };
}

/**
 * A Deployment that an Argo Rollouts Rollout references (`workloadRef`,
 * manifests/components/canary): the Deployment only holds the pod template
 * (Argo Rollouts scales it to zero) and the Rollout runs the pods. The
 * rollout is complete when the Rollout has read the Deployment's current
 * generation, is Healthy (every canary step done), its stable ReplicaSet is
 * the current template's, and a pod is available; the template names `version`.
 * https://argoproj.github.io/argo-rollouts/migrating/#reference-deployment-from-rollout
 */
export function checkRolloutOfDeployment(
  rollout: ArgoRollout,
  dep: V1Deployment,
  version: string,
): CheckResult {
  const st = rollout.status ?? {};
  const { annotation, env } = templateVersions(dep);
  const parts = [
    `phase ${st.phase ?? 'none'}`,
    `stable ${st.stableRS ?? 'none'}`,
    `current ${st.currentPodHash ?? 'none'}`,
    `${st.availableReplicas ?? 0} available`,
    `template version ${annotation ?? 'none'}`,
  ];
  const problems: string[] = [];
  const generation = String(dep.metadata?.generation ?? 0);
  if (st.workloadObservedGeneration !== generation)
    problems.push(
      `Deployment generation ${generation} not read by the Rollout yet (read ${st.workloadObservedGeneration ?? 'none'})`,
    );
  if (st.abort) problems.push(`aborted: ${st.message ?? ''}`.trim());
  else if (st.stableRS !== st.currentPodHash)
    problems.push(
      `canary ${st.currentPodHash ?? 'none'} not promoted yet${st.message ? ` (${st.message})` : ''}`,
    );
  if (annotation !== version)
    problems.push(`annotation ${VERSION_ANNOTATION} is ${annotation ?? 'missing'}, expected ${version}`);
  if (env !== undefined && env !== version) problems.push(`${VERSION_ENV} is ${env}, expected ${version}`);
  const complete = st.phase === 'Healthy' && (st.availableReplicas ?? 0) >= 1;
  const detail = [parts.join(', '), ...problems].join('; ');
  return complete && problems.length === 0 ? ok(detail) : waiting(detail);
}

/** A label selector as the `labelSelector` query string (matchLabels and matchExpressions). */
export function selectorToString(sel: V1LabelSelector | undefined): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    out.push(`${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') out.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') out.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') out.push(e.key);
    else if (e.operator === 'DoesNotExist') out.push(`!${e.key}`);
  }
  return out.join(',');
}

export const isPodReady = (p: V1Pod): boolean =>
  !p.metadata?.deletionTimestamp &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** At least one Ready pod, and every Ready pod annotated with `version`; lists each pod it saw. */
export function checkPods(pods: V1Pod[], version: string): CheckResult {
  if (pods.length === 0) return waiting('none found');
  const sorted = [...pods].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const lines = sorted.map((p) => {
    const v = p.metadata?.annotations?.[VERSION_ANNOTATION] ?? 'none';
    const state = p.metadata?.deletionTimestamp
      ? 'Terminating'
      : isPodReady(p)
        ? 'Ready'
        : (p.status?.phase ?? 'Pending');
    return `${p.metadata?.name} (version ${v}, ${state})`;
  });
  const ready = sorted.filter(isPodReady);
  const wrong = ready.filter((p) => p.metadata?.annotations?.[VERSION_ANNOTATION] !== version);
  const detail = `${lines.join(', ')}`;
  if (ready.length === 0) return waiting(`${detail}; none Ready`);
  if (wrong.length > 0) return waiting(`${detail}; ${wrong.length} Ready pod(s) not at version ${version}`);
  return ok(detail);
}
