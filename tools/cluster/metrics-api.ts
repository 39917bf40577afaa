/**
 * The resource metrics API (`metrics.k8s.io/v1beta1`, what metrics-server
 * serves) for the local cluster, whose kwok pods run no container and so use
 * no CPU or memory anyone could measure.
 *
 * Without this API a HorizontalPodAutoscaler reports
 * `ScalingActive=False FailedGetResourceMetric`, which Argo CD counts as
 * Degraded: the serving Applications could never be Healthy. kwok's answer
 * to that (its `ClusterResourceUsage` "usage-from-annotation") is to report,
 * for every container of a running pod, the usage named by the pod's
 * annotations `kwok.x-k8s.io/usage-cpu` and `kwok.x-k8s.io/usage-memory`, or
 * 1m CPU and 1Mi memory without them; kwokctl then runs metrics-server to
 * scrape it. This handler reports exactly that usage, directly, as
 * metrics-server would after its scrape: a test that wants the HPA to scale
 * annotates the pods. The kube-apiserver's aggregation layer routes
 * `/apis/metrics.k8s.io/v1beta1/...` here (an APIService, see
 * tools/cluster/stack.ts).
 *
 * Served: the group version's resource list, and PodMetrics (list in a
 * namespace or across all, with `labelSelector`/`fieldSelector` as the pods
 * API takes them, and get by name). NodeMetrics are not served.
 *
 * @see https://github.com/kubernetes/metrics/blob/master/pkg/apis/metrics/v1beta1/types.go
 * @see https://kwok.sigs.k8s.io/docs/user/resource-usage-configuration/
 * @see https://kubernetes.io/docs/tasks/extend-kubernetes/configure-aggregation-layer/
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';

/** The pod annotations kwok's usage-from-annotation reads (kustomize/metrics/usage in kwok's repository). */
export const KWOK_USAGE_ANNOTATIONS = {
  cpu: 'kwok.x-k8s.io/usage-cpu',
  memory: 'kwok.x-k8s.io/usage-memory',
} as const;
/** kwok's defaults when a pod has no usage annotation. */
export const KWOK_DEFAULT_USAGE = { cpu: '1m', memory: '1Mi' } as const;

const GROUP_VERSION = 'metrics.k8s.io/v1beta1';
const PREFIX = `/apis/${GROUP_VERSION}`;
/**
 * metrics-server reports the window its CPU rate was measured over: the time
 * between two scrapes, 15 s by default (its --metric-resolution). An HPA
 * ignores a new pod's CPU until one window after the pod turned Ready.
 */
const WINDOW = '15s';

/** A Kubernetes resource quantity (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/). */
const QUANTITY = /^[+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$/;

/** Where the pods come from: the API server, as the admin of the local cluster. */
export interface PodSource {
  /** Pods of `namespace` (every namespace when undefined), filtered as the pods API filters. */
  list(
    namespace: string | undefined,
    query: { labelSelector?: string; fieldSelector?: string },
  ): Promise<V1Pod[]>;
}

export interface MetricsApiOptions {
  pods: PodSource;
  /** The clock of the `timestamp` field. */
  now?: () => Date;
  /** One line per failed request. */
  log?: (line: string) => void;
}

/** One PodMetrics object (metrics.k8s.io/v1beta1). */
export interface PodMetrics {
  kind: 'PodMetrics';
  apiVersion: typeof GROUP_VERSION;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; creationTimestamp: string };
  timestamp: string;
  window: string;
  containers: { name: string; usage: { cpu: string; memory: string } }[];
}

/**
 * The PodMetrics kwok's usage simulation gives `pod`, or undefined when there
 * is none: the pod does not run (not scheduled, not Running), or an
 * annotation is not a quantity (kwok's own expression fails there too).
 */
export function podMetricsOf(pod: V1Pod, now: Date): PodMetrics | undefined {
  if (!pod.spec?.nodeName || pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp)
    return undefined;
  const annotations = pod.metadata?.annotations ?? {};
  const cpu = annotations[KWOK_USAGE_ANNOTATIONS.cpu] ?? KWOK_DEFAULT_USAGE.cpu;
  const memory = annotations[KWOK_USAGE_ANNOTATIONS.memory] ?? KWOK_DEFAULT_USAGE.memory;
  if (!QUANTITY.test(cpu) || !QUANTITY.test(memory)) return undefined;
  return {
    kind: 'PodMetrics',
    apiVersion: GROUP_VERSION,
    metadata: {
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      ...(pod.metadata?.labels ? { labels: pod.metadata.labels } : {}),
      creationTimestamp: now.toISOString(),
    },
    timestamp: now.toISOString(),
    window: WINDOW,
    containers: (pod.spec.containers ?? []).map((c) => ({ name: c.name, usage: { cpu, memory } })),
  };
}

/** The discovery document of the group version: what the aggregator checks for availability. */
export const API_RESOURCE_LIST = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: GROUP_VERSION,
  resources: [
    { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
  ],
};

/** A Kubernetes Status (the body of every API error). */
function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code, message };
}

const NAME = '[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?';
const ROUTE = new RegExp(`^${PREFIX}(?:/namespaces/(${NAME}))?/pods(?:/(${NAME}))?/?$`);

/** A plain `(req, res)` handler (koa-style: tests drive it on any server). */
export function createMetricsApiHandler(options: MetricsApiOptions) {
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => {});
  return (req: IncomingMessage, res: ServerResponse): void => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'https://localhost');
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (req.method !== 'GET') {
      send(
        405,
        status(405, 'MethodNotAllowed', `${req.method} is not supported: the metrics API is read-only`),
      );
      return;
    }
    if (url.pathname === PREFIX || url.pathname === `${PREFIX}/`) {
      send(200, API_RESOURCE_LIST);
      return;
    }
    const m = ROUTE.exec(url.pathname);
    if (!m || (m[2] && !m[1])) {
      send(404, status(404, 'NotFound', `the server could not find the requested resource ${url.pathname}`));
      return;
    }
    const [, namespace, name] = m;
    const query = {
      labelSelector: url.searchParams.get('labelSelector') ?? undefined,
      fieldSelector: name ? `metadata.name=${name}` : (url.searchParams.get('fieldSelector') ?? undefined),
    };
    options.pods
      .list(namespace, query)
      .then((pods) => {
        const at = now();
        const items = pods.map((p) => podMetricsOf(p, at)).filter((p): p is PodMetrics => p !== undefined);
        if (name) {
          const one = items[0];
          if (one) send(200, one);
          else send(404, status(404, 'NotFound', `podmetrics.metrics.k8s.io "${name}" not found`));
          return;
        }
        send(200, { kind: 'PodMetricsList', apiVersion: GROUP_VERSION, metadata: {}, items });
      })
      .catch((e: unknown) => {
        const message = `cannot list pods${namespace ? ` in ${namespace}` : ''}: ${(e as Error).message}`;
        log(message);
        send(503, status(503, 'ServiceUnavailable', message));
      });
  };
}
