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

/**
 * Request a sync and wait for its result. Rejects with CONFLICT when another
 * operation runs, NOT_FOUND when the Application does not exist, USAGE for a
 * revision that is not a commit sha, UNAVAILABLE when the cluster does not
 * answer or refuses, GATE_FAILED when the operation failed or did not end in
 * time (the message says what the controller reported).
 */
export async function syncApplication(opts: SyncOptions, deps: SyncDeps): Promise<SyncResult> {
  const { cluster } = deps;
  const sleep = deps.sleep ?? realSleep;
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => {});
  const namespace = opts.namespace ?? 'argocd';
  const what = `Application ${namespace}/${opts.application}`;
  if (opts.revision && !COMMIT_SHA.test(opts.revision)) {
    throw new ProjectError(
      'USAGE',
      `--revision must be a full commit sha (40 hex digits), got "${opts.revision}"`,
      { subject: opts.revision, hint: 'git rev-parse <ref> gives it' },
    );
  }
  const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  const ref = {
    group: 'argoproj.io',
    version: 'v1alpha1',
    namespace,
    plural: 'applications',
    name: opts.application,
  };
  const fail = (e: unknown, doing: string): never => {
    const fatal = clusterErrorOf(e, cluster, what);
    if (fatal) throw fatal;
    if (apiStatusOf(e) === 404)
      throw new ProjectError('NOT_FOUND', `${what} does not exist on ${cluster.server} [${cluster.source}]`, {
        subject: opts.application,
        hint: 'apply manifests/argocd first (docs/gitops.md); the ApplicationSet makes one Application per environment',
        cause: e,
      });
    throw new ProjectError('UNAVAILABLE', `${doing} ${what} failed: ${apiMessageOf(e)} [${cluster.source}]`, {
      subject: opts.application,
      cause: e,
    });
  };
  const read = async (): Promise<SyncedApplication> =>
    (await custom
      .getNamespacedCustomObject(ref)
      .catch((e: unknown) => fail(e, 'reading'))) as SyncedApplication;

  const start = now();
  // As SetAppOperation: read, refuse a running operation, write with the version read, retry a conflict.
  for (let attempt = 1; ; attempt++) {
    const app = await read();
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
    const operation = buildSyncOperation(app, opts);
    const patch = {
      metadata: { resourceVersion: app.metadata?.resourceVersion },
      operation,
      status: { operationState: null },
    };
    try {
      await custom.patchNamespacedCustomObject(
        { ...ref, body: patch },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      log(
        `requested a sync of ${what}${opts.revision ? ` to ${opts.revision}` : ''} (initiated by ${opts.initiatedBy})`,
      );
      break;
    } catch (e) {
      if (apiStatusOf(e) === 409 && attempt < 5) continue; // the controller wrote meanwhile
      fail(e, 'requesting a sync of');
    }
  }

  // Wait for the controller to run it: the operation field goes, status.operationState ends.
  let delay = opts.pollMs ?? 500;
  const maxDelay = opts.maxPollMs ?? 5000;
  let lastLine = '';
  for (;;) {
    const app = await read();
    const state = app.status?.operationState;
    const line = state?.phase
      ? `${state.phase}: ${state.message ?? ''}`.trim()
      : 'waiting for the controller';
    if (line !== lastLine) log(`${what}: ${line}`);
    lastLine = line;
    if (!app.operation && state?.phase && TERMINAL.has(state.phase) && state.finishedAt) {
      const result: SyncResult = {
        application: opts.application,
        phase: state.phase,
        message: state.message ?? '',
        ...(state.syncResult?.revision ? { revision: state.syncResult.revision } : {}),
        failed: failedResources(app),
        elapsedMs: now() - start,
      };
      if (state.phase !== 'Succeeded') {
        throw new ProjectError(
          'GATE_FAILED',
          `sync of ${what} ${state.phase.toLowerCase()}: ${result.message}${result.failed.length ? `\n  ${result.failed.join('\n  ')}` : ''}`,
          { subject: opts.application, details: result },
        );
      }
      return result;
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
