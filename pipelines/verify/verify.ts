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

/** The names and API clients one verification reads through, resolved once. */
interface Probe {
  opts: VerifyRolloutOptions;
  cluster: Cluster;
  namespace: string;
  deploymentName: string;
  appName: string;
  appNamespace: string;
  apps: AppsV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
}

function probeOf(opts: VerifyRolloutOptions, cluster: Cluster): Probe {
  const kc = cluster.kubeConfig;
  return {
    opts,
    cluster,
    namespace: opts.namespace ?? `ml-${opts.env}`,
    deploymentName: opts.deployment ?? 'model-server',
    appName: opts.application ?? `model-server-${opts.env}`,
    appNamespace: opts.applicationNamespace ?? 'argocd',
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
  };
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
  const sleep = deps.sleep ?? realSleep;
  const now = deps.now ?? Date.now;
  const probe = probeOf(opts, deps.cluster);
  const start = now();
  const deadline = start + opts.timeoutMs;
  let delay = opts.pollMs ?? 500;
  const maxDelay = opts.maxPollMs ?? 5000;
  let target: PredictTarget | undefined = opts.url ? { kind: 'url', baseUrl: opts.url } : undefined;
  let lastLines = '';

  for (let rounds = 1; ; rounds++) {
    const report = emptyReport(probe, target, rounds);
    const appOk = await checkApplicationStep(probe, report);
    // The Deployment and its pods are read even while the Application is not ready: the report shows both.
    const dep = await checkDeploymentStep(probe, report);
    if (dep) await checkPodsStep(probe, dep, report);
    if (appOk && report.deployment.ok && report.pods.ok) {
      target = await checkPredictStep(probe, report, target, () => deadline - now());
    }

    report.ok = appOk && report.deployment.ok && report.pods.ok && report.predict.ok;
    report.elapsedMs = now() - start;
    const lines = formatReport(report);
    if (lines !== lastLines) deps.log?.(lines);
    lastLines = lines;
    if (report.ok) return report;

    const left = deadline - now();
    if (left <= 0) throw notVerified(probe, report, lines, now() - start);
    await sleep(Math.min(delay, left));
    delay = Math.min(maxDelay, delay * 2);
  }
}

/** Read an object; undefined when it does not exist (yet); throw when the cluster is the problem. */
async function read<T>(cluster: Cluster, what: string, fn: () => Promise<T>): Promise<T | undefined> {
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

/** A round's report before any check ran: every check "not tried". */
function emptyReport(p: Probe, target: PredictTarget | undefined, rounds: number): RolloutReport {
  return {
    ok: false,
    env: p.opts.env,
    version: p.opts.version,
    application: {
      name: p.appName,
      ...notTried(p.opts.skipApplication ? 'skipped (--skip-application)' : 'not tried'),
    },
    deployment: { name: `${p.namespace}/${p.deploymentName}`, ...notTried() },
    pods: notTried(),
    predict: {
      url: target
        ? predictUrlOf(target)
        : `service ${p.namespace}/${p.opts.service ?? 'model-server'} via API server proxy`,
      ...notTried(),
    },
    rounds,
    elapsedMs: 0,
  };
}

/** (a) The Argo CD Application is Synced and Healthy (at the revision, when given); true when skipped. */
async function checkApplicationStep(p: Probe, report: RolloutReport): Promise<boolean> {
  if (p.opts.skipApplication) return true;
  const app = await read<ArgoApplication>(p.cluster, `Application ${p.appNamespace}/${p.appName}`, () =>
    p.custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: p.appNamespace,
      plural: 'applications',
      name: p.appName,
    }),
  );
  Object.assign(report.application, checkApplication(app, p.opts.revision));
  return report.application.ok;
}

/**
 * (b) The Deployment has rolled out the pinned version. A Deployment at zero
 * replicas may be the template of an Argo Rollouts Rollout of the same name
 * (manifests/components/canary, workloadRef): then the Rollout says whether
 * the rollout is done. 404: no Rollout (or no Argo Rollouts), the
 * Deployment's own check stands. Returns the Deployment, when there is one.
 */
async function checkDeploymentStep(p: Probe, report: RolloutReport): Promise<V1Deployment | undefined> {
  const { namespace, deploymentName } = p;
  const dep = await read<V1Deployment>(p.cluster, `Deployment ${namespace}/${deploymentName}`, () =>
    p.apps.readNamespacedDeployment({ name: deploymentName, namespace }),
  );
  Object.assign(report.deployment, checkDeployment(dep, p.opts.version));
  if (dep && dep.spec?.replicas === 0 && !report.deployment.ok) {
    const rollout = await read<ArgoRollout>(p.cluster, `Rollout ${namespace}/${deploymentName}`, () =>
      p.custom.getNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        namespace,
        plural: 'rollouts',
        name: deploymentName,
      }),
    );
    if (rollout) {
      report.deployment.name = `${namespace}/${deploymentName} (run by Rollout ${deploymentName})`;
      Object.assign(report.deployment, checkRolloutOfDeployment(rollout, dep, p.opts.version));
    }
  }
  return dep;
}

/** (b) Every Ready pod of the Deployment's selector carries the pinned version. */
async function checkPodsStep(p: Probe, dep: V1Deployment, report: RolloutReport): Promise<void> {
  const labelSelector = selectorToString(dep.spec?.selector);
  const list = await read(p.cluster, `pods in ${p.namespace} (${labelSelector})`, () =>
    p.core.listNamespacedPod({ namespace: p.namespace, labelSelector }),
  );
  Object.assign(report.pods, checkPods((list?.items ?? []) as V1Pod[], p.opts.version));
}

/**
 * (c) One real image sent to /predict answers with the pinned version. Without
 * a URL the route goes through the API server proxy to the Service's first
 * port, found once; returns the target for the next rounds.
 */
async function checkPredictStep(
  p: Probe,
  report: RolloutReport,
  known: PredictTarget | undefined,
  remainingMs: () => number,
): Promise<PredictTarget | undefined> {
  const target = known ?? (await proxyTarget(p, report));
  if (!target) {
    report.predict.state = 'waiting';
    return undefined;
  }
  report.predict.url = predictUrlOf(target);
  Object.assign(
    report.predict,
    await smokePredict(target, {
      image: p.opts.image,
      contentType: p.opts.contentType ?? 'image/png',
      version: p.opts.version,
      timeoutMs: Math.max(1000, Math.min(30_000, remainingMs())),
    }),
  );
  return target;
}

/** The API server proxy route to the Service's first port, or undefined (and why, in the report). */
async function proxyTarget(p: Probe, report: RolloutReport): Promise<PredictTarget | undefined> {
  const { namespace } = p;
  const svcName = p.opts.service ?? 'model-server';
  const svc = await read(p.cluster, `Service ${namespace}/${svcName}`, () =>
    p.core.readNamespacedService({ name: svcName, namespace }),
  );
  const port = svc?.spec?.ports?.[0];
  if (port) {
    return {
      kind: 'proxy',
      kubeConfig: p.cluster.kubeConfig,
      namespace,
      service: svcName,
      port: port.name || String(port.port),
    };
  }
  report.predict.detail = svc
    ? `Service ${namespace}/${svcName} has no ports`
    : `Service ${namespace}/${svcName} not found`;
  return undefined;
}

/** The timeout: GATE_FAILED with what each check saw in the last round. */
function notVerified(p: Probe, report: RolloutReport, lines: string, elapsedMs: number): ProjectError {
  const { opts } = p;
  const what = opts.model ? `${opts.model} version ${opts.version}` : `version ${opts.version}`;
  return new ProjectError(
    'GATE_FAILED',
    `rollout of ${what} to ${opts.env} not verified after ${Math.round(elapsedMs / 1000)}s (${report.rounds} checks):\n${lines}`,
    {
      subject: opts.env,
      details: report,
      hint: `see what each check saw above; kubectl -n ${p.namespace} describe deployment ${p.deploymentName}`,
    },
  );
}
