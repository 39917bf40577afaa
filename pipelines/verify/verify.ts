/**
 * verifyRollout: poll a cluster (with backoff) until an environment runs its
 * pinned model version end to end, or time out with a report of what each
 * check saw. Checks, in order:
 *   (a) the Argo CD Application `model-server-<env>` (namespace argocd) is Synced and Healthy;
 *   (b) the Deployment `model-server` in `ml-<env>` has rolled out a template at the
 *       pinned version (or, for a Deployment an Argo Rollouts Rollout references,
 *       the Rollout has promoted it), and every Ready pod carries that version;
 *   (c) one real PNG sent to `/predict` answers with that version.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { type Clock, sleep as realSleep } from '../../platform/clock.ts';
import { ProjectError } from '../../platform/errors.ts';
import { apiMessageOf, apiStatusOf, type Cluster, clusterErrorOf } from '../../platform/kube/cluster.ts';
import {
  type ArgoApplication,
  type ArgoRollout,
  type CheckResult,
  checkApplication,
  checkDeployment,
  checkPods,
  checkRolloutOfDeployment,
  notTried,
  selectorToString,
} from './checks.ts';
import { type PredictTarget, predictUrlOf, smokePredict } from './smoke.ts';

/** Names of an environment's objects (docs/contracts.md), each overridable. */
export interface RolloutTarget {
  env: string;
  /** Expected model version (the pin). */
  version: string;
  /** For messages only. */
  model?: string;
  /** Default `ml-<env>`. */
  namespace?: string;
  /** Default `model-server`. */
  deployment?: string;
  /** Default `model-server-<env>`; set `skipApplication` for a cluster without Argo CD. */
  application?: string;
  /** Default `argocd`. */
  applicationNamespace?: string;
  skipApplication?: boolean;
  /** Git revision the Application must be synced to (status.sync.revision), when given. */
  revision?: string;
  /** Base URL of the model server; default: the Service `model-server` through the API server proxy. */
  url?: string;
  /** Service for the proxy route; default `model-server`, first port. */
  service?: string;
}

export interface VerifyRolloutOptions extends RolloutTarget {
  /** The smoke image (PNG or JPEG bytes) and its content type. */
  image: Uint8Array;
  contentType?: string;
  /** Give up after this long (ms). */
  timeoutMs: number;
  /** First wait between rounds (default 500 ms), doubled up to `maxPollMs` (default 5000 ms). */
  pollMs?: number;
  maxPollMs?: number;
}

export interface VerifyRolloutDeps extends Partial<Clock> {
  cluster: Cluster;
  /** Progress lines (one per round that changed). Default: none. */
  log?: (line: string) => void;
}

/** What each check saw in the last round. */
export interface RolloutReport {
  ok: boolean;
  env: string;
  version: string;
  application: CheckResult & { name: string };
  deployment: CheckResult & { name: string };
  pods: CheckResult;
  predict: CheckResult & { url: string };
  rounds: number;
  elapsedMs: number;
}

/** The report as lines, e.g. "Application model-server-dev: sync=OutOfSync health=Progressing". */
export function formatReport(r: RolloutReport): string {
  const mark = (c: CheckResult) => (c.ok ? 'ok' : c.state);
  return [
    `Application ${r.application.name}: [${mark(r.application)}] ${r.application.detail}`,
    `Deployment ${r.deployment.name}: [${mark(r.deployment)}] ${r.deployment.detail}`,
    `pods: [${mark(r.pods)}] ${r.pods.detail}`,
    `/predict (${r.predict.url}): [${mark(r.predict)}] ${r.predict.detail}`,
  ].join('\n');
}

/**
 * Wait until the rollout is verified; resolve with the report, or reject with
 * ProjectError GATE_FAILED (timeout; the message holds the report) or
 * UNAVAILABLE (the API server does not answer or refuses the credentials).
 */
export async function verifyRollout(
  opts: VerifyRolloutOptions,
  deps: VerifyRolloutDeps,
): Promise<RolloutReport> {
  const { cluster } = deps;
  const sleep = deps.sleep ?? realSleep;
  const now = deps.now ?? Date.now;
  const namespace = opts.namespace ?? `ml-${opts.env}`;
  const deploymentName = opts.deployment ?? 'model-server';
  const appName = opts.application ?? `model-server-${opts.env}`;
  const appNamespace = opts.applicationNamespace ?? 'argocd';
  const kc = cluster.kubeConfig;
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const start = now();
  const deadline = start + opts.timeoutMs;
  let delay = opts.pollMs ?? 500;
  const maxDelay = opts.maxPollMs ?? 5000;
  let target: PredictTarget | undefined = opts.url ? { kind: 'url', baseUrl: opts.url } : undefined;
  let lastLines = '';
  let rounds = 0;

  /** Read an object; undefined when it does not exist (yet); throw when the cluster is the problem. */
  async function read<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      const fatal = clusterErrorOf(e, cluster, what);
      if (fatal) throw fatal;
      if (apiStatusOf(e) === 404) return undefined;
      throw new ProjectError(
        'UNAVAILABLE',
        `reading ${what} from ${cluster.server} failed: ${apiMessageOf(e)} [${cluster.source}]`,
        {
          subject: what,
          cause: e,
        },
      );
    }
  }

  for (;;) {
    rounds++;
    const report: RolloutReport = {
      ok: false,
      env: opts.env,
      version: opts.version,
      application: {
        name: appName,
        ...notTried(opts.skipApplication ? 'skipped (--skip-application)' : 'not tried'),
      },
      deployment: { name: `${namespace}/${deploymentName}`, ...notTried() },
      pods: notTried(),
      predict: {
        url: target
          ? predictUrlOf(target)
          : `service ${namespace}/${opts.service ?? 'model-server'} via API server proxy`,
        ...notTried(),
      },
      rounds,
      elapsedMs: 0,
    };

    // (a) Argo CD Application.
    let appOk = true;
    if (!opts.skipApplication) {
      const app = await read<ArgoApplication>(`Application ${appNamespace}/${appName}`, () =>
        custom.getNamespacedCustomObject({
          group: 'argoproj.io',
          version: 'v1alpha1',
          namespace: appNamespace,
          plural: 'applications',
          name: appName,
        }),
      );
      Object.assign(report.application, checkApplication(app, opts.revision));
      appOk = report.application.ok;
    }

    // (b) Deployment and its pods (read even while the Application is not ready: the report shows both).
    const dep = await read<V1Deployment>(`Deployment ${namespace}/${deploymentName}`, () =>
      apps.readNamespacedDeployment({ name: deploymentName, namespace }),
    );
    Object.assign(report.deployment, checkDeployment(dep, opts.version));
    // A Deployment at zero replicas may be the template of an Argo Rollouts Rollout of
    // the same name (manifests/components/canary, workloadRef): then the Rollout says
    // whether the rollout is done. 404: no Rollout (or no Argo Rollouts), the Deployment's
    // own check stands.
    if (dep && dep.spec?.replicas === 0 && !report.deployment.ok) {
      const rollout = await read<ArgoRollout>(`Rollout ${namespace}/${deploymentName}`, () =>
        custom.getNamespacedCustomObject({
          group: 'argoproj.io',
          version: 'v1alpha1',
          namespace,
          plural: 'rollouts',
          name: deploymentName,
        }),
      );
      if (rollout) {
        report.deployment.name = `${namespace}/${deploymentName} (run by Rollout ${deploymentName})`;
        Object.assign(report.deployment, checkRolloutOfDeployment(rollout, dep, opts.version));
      }
    }
    if (dep) {
      const labelSelector = selectorToString(dep.spec?.selector);
      const list = await read(`pods in ${namespace} (${labelSelector})`, () =>
        core.listNamespacedPod({ namespace, labelSelector }),
      );
      Object.assign(report.pods, checkPods((list?.items ?? []) as V1Pod[], opts.version));
    }

    // (c) /predict, once everything above holds.
    if (appOk && report.deployment.ok && report.pods.ok) {
      if (!target) {
        const svcName = opts.service ?? 'model-server';
        const svc = await read(`Service ${namespace}/${svcName}`, () =>
          core.readNamespacedService({ name: svcName, namespace }),
        );
        const port = svc?.spec?.ports?.[0];
        if (port)
          target = {
            kind: 'proxy',
            kubeConfig: kc,
            namespace,
            service: svcName,
            port: port.name || String(port.port),
          };
        else
          report.predict.detail = svc
            ? `Service ${namespace}/${svcName} has no ports`
            : `Service ${namespace}/${svcName} not found`;
      }
      if (target) {
        report.predict.url = predictUrlOf(target);
        Object.assign(
          report.predict,
          await smokePredict(target, {
            image: opts.image,
            contentType: opts.contentType ?? 'image/png',
            version: opts.version,
            timeoutMs: Math.max(1000, Math.min(30_000, deadline - now())),
          }),
        );
      } else {
        report.predict.state = 'waiting';
      }
    }

    report.ok = appOk && report.deployment.ok && report.pods.ok && report.predict.ok;
    report.elapsedMs = now() - start;
    const lines = formatReport(report);
    if (lines !== lastLines) deps.log?.(lines);
    lastLines = lines;
    if (report.ok) return report;

    const left = deadline - now();
    if (left <= 0) {
      const what = opts.model ? `${opts.model} version ${opts.version}` : `version ${opts.version}`;
      throw new ProjectError(
        'GATE_FAILED',
        `rollout of ${what} to ${opts.env} not verified after ${Math.round((now() - start) / 1000)}s (${rounds} checks):\n${lines}`,
        {
          subject: opts.env,
          details: report,
          hint:
            'see what each check saw above; kubectl -n ' +
            namespace +
            ' describe deployment ' +
            deploymentName,
        },
      );
    }
    await sleep(Math.min(delay, left));
    delay = Math.min(maxDelay, delay * 2);
  }
}
