/**
 * Sync an Argo CD Application the way `argocd app sync` does, without
 * argocd-server: set the Application's `operation` (a sync, as the API
 * server's ApplicationService.Sync builds it) and clear
 * `status.operationState`, then let the application-controller run it and
 * wait for its result. That is exactly what argocd-server writes
 * (server/application/application.go Sync → util/argo SetAppOperation):
 * refused while another operation is in progress, retried on a write
 * conflict.
 *
 * Used for prod, which has no automated sync (docs/gitops.md): verify.yml
 * runs `npm run sync -- --env prod` after the GitHub environment's reviewers
 * approved the promotion. The Kubernetes account needs get and patch on that
 * one Application (manifests/ci-access/argocd-rbac.yaml, narrowed by sync-only-policy.yaml).
 * @see https://argo-cd.readthedocs.io/en/stable/user-guide/commands/argocd_app_sync/
 */
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { type Clock, sleep as realSleep } from '../../platform/clock.ts';
import { ProjectError } from '../../platform/errors.ts';
import { apiMessageOf, apiStatusOf, type Cluster, clusterErrorOf } from '../../platform/kube/cluster.ts';

/** The fields of an Application a sync reads and writes (argoproj.io/v1alpha1). */
export interface SyncedApplication {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    source?: Record<string, unknown>;
    sources?: Record<string, unknown>[];
    syncPolicy?: { syncOptions?: string[]; retry?: Record<string, unknown>; automated?: unknown };
  };
  operation?: { initiatedBy?: { username?: string; automated?: boolean } };
  status?: {
    operationState?: {
      phase?: string;
      message?: string;
      startedAt?: string;
      finishedAt?: string;
      operation?: { initiatedBy?: { username?: string; automated?: boolean } };
      syncResult?: {
        revision?: string;
        resources?: { kind?: string; name?: string; namespace?: string; status?: string; message?: string }[];
      };
    };
  };
}

/** The `operation` field a sync request writes. */
export interface SyncOperation {
  sync: {
    revision?: string;
    prune: boolean;
    syncOptions?: string[];
    source?: Record<string, unknown>;
    sources?: Record<string, unknown>[];
  };
  initiatedBy: { username: string };
  retry?: Record<string, unknown>;
}

export interface SyncOptions {
  /** Application name, e.g. model-server-prod. */
  application: string;
  /** Its namespace (default argocd). */
  namespace?: string;
  /** A full commit sha to sync to; default: the Application's targetRevision, resolved by the controller. */
  revision?: string;
  /** Delete what Git no longer has (default false, as `argocd app sync`). */
  prune?: boolean;
  /** Who asks (shown by Argo CD as "initiated by"). */
  initiatedBy: string;
  /** Give up waiting for the result after this long (ms); the operation itself goes on. */
  timeoutMs: number;
  /** First wait between reads (default 500 ms), doubled up to `maxPollMs` (default 5000 ms). */
  pollMs?: number;
  maxPollMs?: number;
}

export interface SyncDeps extends Partial<Clock> {
  cluster: Cluster;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What the controller reported once the operation ended. */
export interface SyncResult {
  application: string;
  phase: string;
  message: string;
  revision?: string;
  /** Resources whose sync did not succeed, one line each. */
  failed: string[];
  elapsedMs: number;
}

const COMMIT_SHA = /^[0-9a-f]{40}$/;
const TERMINAL = new Set(['Succeeded', 'Failed', 'Error']);

/**
 * The operation argocd-server writes for `argocd app sync <app>`: the
 * Application's own sync options and retry policy, its source, and the
 * revision when one is asked for.
 */
export function buildSyncOperation(
  app: SyncedApplication,
  opts: Pick<SyncOptions, 'revision' | 'prune' | 'initiatedBy'>,
): SyncOperation {
  const policy = app.spec?.syncPolicy;
  const sources = app.spec?.sources;
  return {
    sync: {
      ...(opts.revision ? { revision: opts.revision } : {}),
      prune: opts.prune ?? false,
      ...(policy?.syncOptions?.length ? { syncOptions: policy.syncOptions } : {}),
      ...(sources?.length ? { sources } : app.spec?.source ? { source: app.spec.source } : {}),
    },
    initiatedBy: { username: opts.initiatedBy },
    ...(policy?.retry ? { retry: policy.retry } : {}),
  };
}

/** "Deployment ml-prod/model-server: SyncFailed (message)" for every resource that did not sync. */
export function failedResources(app: SyncedApplication): string[] {
  const resources = app.status?.operationState?.syncResult?.resources ?? [];
  return resources
    .filter((r) => r.status && r.status !== 'Synced' && r.status !== 'Pruned')
    .map(
      (r) =>
        `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}: ${r.status}${r.message ? ` (${r.message})` : ''}`,
    );
}

/** The Application a sync is about, and how to read it through the API server. */
interface AppHandle {
  opts: SyncOptions;
  cluster: Cluster;
  custom: CustomObjectsApi;
  ref: { group: string; version: string; namespace: string; plural: string; name: string };
  /** `Application <namespace>/<name>`, for messages. */
  what: string;
  log: (line: string) => void;
}

/**
 * Request a sync and wait for its result. Rejects with CONFLICT when another
 * operation runs, NOT_FOUND when the Application does not exist, USAGE for a
 * revision that is not a commit sha, UNAVAILABLE when the cluster does not
 * answer or refuses, GATE_FAILED when the operation failed or did not end in
 * time (the message says what the controller reported).
 */
export async function syncApplication(opts: SyncOptions, deps: SyncDeps): Promise<SyncResult> {
  const { cluster } = deps;
  const now = deps.now ?? Date.now;
  const namespace = opts.namespace ?? 'argocd';
  if (opts.revision && !COMMIT_SHA.test(opts.revision)) {
    throw new ProjectError(
      'USAGE',
      `--revision must be a full commit sha (40 hex digits), got "${opts.revision}"`,
      { subject: opts.revision, hint: 'git rev-parse <ref> gives it' },
    );
  }
  const h: AppHandle = {
    opts,
    cluster,
    custom: cluster.kubeConfig.makeApiClient(CustomObjectsApi),
    ref: {
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace,
      plural: 'applications',
      name: opts.application,
    },
    what: `Application ${namespace}/${opts.application}`,
    log: deps.log ?? (() => {}),
  };
  const start = now();
  await requestSync(h);
  return waitForResult(h, start, now, deps.sleep ?? realSleep);
}

/** The error for a failed call: the cluster's own, NOT_FOUND for a 404, else UNAVAILABLE. */
function failure(h: AppHandle, e: unknown, doing: string): ProjectError {
  const { what, cluster, opts } = h;
  const fatal = clusterErrorOf(e, cluster, what);
  if (fatal) return fatal;
  if (apiStatusOf(e) === 404)
    return new ProjectError('NOT_FOUND', `${what} does not exist on ${cluster.server} [${cluster.source}]`, {
      subject: opts.application,
      hint: 'apply manifests/argocd first (docs/gitops.md); the ApplicationSet makes one Application per environment',
      cause: e,
    });
  return new ProjectError('UNAVAILABLE', `${doing} ${what} failed: ${apiMessageOf(e)} [${cluster.source}]`, {
    subject: opts.application,
    cause: e,
  });
}

async function readApplication(h: AppHandle): Promise<SyncedApplication> {
  try {
    return (await h.custom.getNamespacedCustomObject(h.ref)) as SyncedApplication;
  } catch (e) {
    throw failure(h, e, 'reading');
  }
}

/**
 * Write the sync operation as SetAppOperation does: read, refuse a running
 * operation, write with the version read, retry a conflict (up to 5 times).
 */
async function requestSync(h: AppHandle): Promise<void> {
  const { opts, what } = h;
  for (let attempt = 1; ; attempt++) {
    const app = await readApplication(h);
    if (app.operation) {
      const who = app.operation.initiatedBy?.automated
        ? 'the automated sync'
        : app.operation.initiatedBy?.username;
      throw new ProjectError(
        'CONFLICT',
        `${what}: another operation is already in progress${who ? ` (started by ${who})` : ''}`,
        {
          subject: opts.application,
          hint: 'wait for it to finish (its result is in status.operationState), then sync again',
        },
      );
    }
    const patch = {
      metadata: { resourceVersion: app.metadata?.resourceVersion },
      operation: buildSyncOperation(app, opts),
      status: { operationState: null },
    };
    try {
      await h.custom.patchNamespacedCustomObject(
        { ...h.ref, body: patch },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      h.log(
        `requested a sync of ${what}${opts.revision ? ` to ${opts.revision}` : ''} (initiated by ${opts.initiatedBy})`,
      );
      return;
    } catch (e) {
      if (apiStatusOf(e) === 409 && attempt < 5) continue; // the controller wrote meanwhile
      throw failure(h, e, 'requesting a sync of');
    }
  }
}

/** Wait for the controller to run it: the operation field goes, status.operationState ends. */
async function waitForResult(
  h: AppHandle,
  start: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<SyncResult> {
  const { opts, what } = h;
  let delay = opts.pollMs ?? 500;
  const maxDelay = opts.maxPollMs ?? 5000;
  let lastLine = '';
  for (;;) {
    const app = await readApplication(h);
    const state = app.status?.operationState;
    const line = state?.phase
      ? `${state.phase}: ${state.message ?? ''}`.trim()
      : 'waiting for the controller';
    if (line !== lastLine) h.log(`${what}: ${line}`);
    lastLine = line;
    if (!app.operation && state?.phase && TERMINAL.has(state.phase) && state.finishedAt) {
      return syncResultOf(h, app, state.phase, now() - start);
    }
    const left = start + opts.timeoutMs - now();
    if (left <= 0) {
      throw new ProjectError(
        'GATE_FAILED',
        `sync of ${what} not finished after ${Math.round(opts.timeoutMs / 1000)}s: ${line}`,
        {
          subject: opts.application,
          hint: 'the operation goes on; its result will be in the Application status.operationState',
        },
      );
    }
    await sleep(Math.min(delay, left));
    delay = Math.min(maxDelay, delay * 2);
  }
}

/** The ended operation's result; GATE_FAILED (with the resources that failed) unless it succeeded. */
function syncResultOf(h: AppHandle, app: SyncedApplication, phase: string, elapsedMs: number): SyncResult {
  const state = app.status?.operationState;
  const result: SyncResult = {
    application: h.opts.application,
    phase,
    message: state?.message ?? '',
    ...(state?.syncResult?.revision ? { revision: state.syncResult.revision } : {}),
    failed: failedResources(app),
    elapsedMs,
  };
  if (phase !== 'Succeeded') {
    throw new ProjectError(
      'GATE_FAILED',
      `sync of ${h.what} ${phase.toLowerCase()}: ${result.message}${result.failed.length ? `\n  ${result.failed.join('\n  ')}` : ''}`,
      { subject: h.opts.application, details: result },
    );
  }
  return result;
}
