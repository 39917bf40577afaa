/**
 * What the local cluster writes through the Kubernetes API once the control
 * plane answers: the kwok nodes, Argo CD's CRDs and configuration objects
 * (server-side apply, https://kubernetes.io/docs/reference/using-api/server-side-apply/),
 * and the waits for them to take effect.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  ApiregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type V1Node,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ProjectError } from '../../platform/errors.ts';
import { waitFor } from './probe.ts';

/** The field manager of everything `npm run cluster` applies. */
export const FIELD_MANAGER = 'gitops-ml-cluster';
/** kwok manages the nodes carrying this annotation (its --manage-nodes-with-annotation-selector). */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

/**
 * Read the YAML documents of a file (empty documents dropped); a parse error
 * names the file. Built-in kinds come back in @kubernetes/client-node's model
 * shape (its loadAllYaml), which is what {@link applyObjects} serializes from:
 * a plain JSON-shaped CustomResourceDefinition would lose every
 * `x-kubernetes-*` schema field on the way (the model calls them
 * `xKubernetesIntOrString`...), and the API server would refuse or prune;
 * a plain NetworkPolicy would lose its ingress rules' `from` (the model's
 * `_from`), opening them to everyone. Objects from elsewhere (renderAll)
 * go through {@link parseManifests} of their YAML first.
 */
export async function readManifests(path: string): Promise<KubernetesObject[]> {
  return parseManifests(await readFile(path, 'utf8'), path);
}

/** {@link readManifests} of YAML text (`where` names it in errors: a file, "kustomize build x"). */
export function parseManifests(text: string, where: string): KubernetesObject[] {
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new ProjectError('INVALID', `${where}: not valid YAML: ${doc.errors[0]?.message}`, {
        subject: where,
      });
  }
  return loadAllYaml(text).filter(
    (obj): obj is KubernetesObject => !!obj && typeof obj === 'object' && 'kind' in obj && !!obj.kind,
  );
}

/** Server-side apply, taking ownership of conflicting fields (this tool owns what it applies). */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    try {
      await client.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (e) {
      const what = `${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name}`;
      throw new ProjectError('UNAVAILABLE', `cannot apply ${what}: ${apiMessage(e)}`, {
        subject: what,
        cause: e,
      });
    }
  }
}

function apiMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
    try {
      return `${e.code}: ${(JSON.parse(body) as { message?: string }).message ?? body}`;
    } catch {
      return `${e.code}: ${body}`;
    }
  }
  return (e as Error).message;
}

/** Wait until each CRD reports Established (its API is served). */
export async function waitCrdsEstablished(kc: KubeConfig, names: string[], timeoutMs: number): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    await waitFor(
      `CustomResourceDefinition ${name}`,
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        const established = crd.status?.conditions?.find((c) => c.type === 'Established');
        return established?.status === 'True' ? undefined : 'not Established yet';
      },
      timeoutMs,
    );
  }
}

/**
 * Apply the CustomResourceDefinitions in `files` (only CRDs: anything else is
 * refused before anything is applied) and wait until each is Established.
 * Resolves to their names.
 */
export async function installCrds(kc: KubeConfig, files: string[], timeoutMs: number): Promise<string[]> {
  const crds = (await Promise.all(files.map(readManifests))).flat();
  if (!crds.every((c) => c.kind === 'CustomResourceDefinition'))
    throw new ProjectError('INVALID', `${files.join(', ')}: expected only CustomResourceDefinitions`);
  await applyObjects(kc, crds);
  const names = crds.map((c) => c.metadata?.name as string);
  await waitCrdsEstablished(kc, names, timeoutMs);
  return names;
}

/**
 * Register the metrics API server on 127.0.0.1:`port` (tools/cluster/metrics-api.ts)
 * as the APIService `v1beta1.metrics.k8s.io`, and wait until the aggregator
 * reports it Available. The APIService points at a Service of type
 * ExternalName whose name is 127.0.0.1: the aggregator dials an ExternalName
 * Service's name directly (k8s.io/apiserver/pkg/util/proxy ResolveCluster),
 * where a ClusterIP would need a kube-proxy this cluster does not run. The
 * aggregator checks the server's certificate against the Service's DNS name,
 * which a loopback certificate cannot carry: hence insecureSkipTLSVerify, on
 * loopback only.
 */
export async function registerMetricsApi(kc: KubeConfig, port: number, timeoutMs: number): Promise<void> {
  const name = 'v1beta1.metrics.k8s.io';
  await applyObjects(kc, [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'metrics-api', namespace: 'kube-system' },
      spec: { type: 'ExternalName', externalName: '127.0.0.1' },
    } as KubernetesObject,
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name },
      spec: {
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        groupPriorityMinimum: 100,
        versionPriority: 100,
        insecureSkipTLSVerify: true,
        service: { namespace: 'kube-system', name: 'metrics-api', port },
      },
    } as KubernetesObject,
  ]);
  const api = kc.makeApiClient(ApiregistrationV1Api);
  await waitFor(
    `APIService ${name}`,
    async () => {
      const svc = await api.readAPIService({ name });
      const available = svc.status?.conditions?.find((c) => c.type === 'Available');
      return available?.status === 'True'
        ? undefined
        : `not Available: ${available?.reason ?? ''} ${available?.message ?? ''}`.trim();
    },
    timeoutMs,
  );
}

/** One simulated node. */
export interface KwokNodeSpec {
  name: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** Capacity (= allocatable), e.g. { cpu: '8', memory: '32Gi', pods: '110' }. */
  capacity: Record<string, string>;
}

/**
 * The two nodes of the local cluster: a CPU node for the serving
 * Deployments, and a node labelled and tainted like a GPU node of NVIDIA's
 * GPU operator (gpu-feature-discovery's `nvidia.com/gpu.present` label, the
 * `nvidia.com/gpu` taint and the device plugin's `nvidia.com/gpu` extended
 * resource): what manifests/training-job selects and tolerates.
 */
export const DEFAULT_NODES: KwokNodeSpec[] = [
  {
    name: 'kwok-cpu-0',
    labels: { 'node.kubernetes.io/instance-type': 'kwok-cpu' },
    capacity: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
  },
  {
    name: 'kwok-gpu-0',
    labels: { 'node.kubernetes.io/instance-type': 'kwok-gpu', 'nvidia.com/gpu.present': 'true' },
    taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
    capacity: { cpu: '16', memory: '64Gi', pods: '110', 'ephemeral-storage': '200Gi', 'nvidia.com/gpu': '1' },
  },
];

/**
 * Register kwok nodes (status included: a Node may be created with its
 * status, as a kubelet registers itself) and wait until kwok reports them Ready.
 */
export async function createKwokNodes(
  kc: KubeConfig,
  nodes: KwokNodeSpec[],
  timeoutMs: number,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const n of nodes) {
    const body: V1Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: n.name,
        annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          'kubernetes.io/arch': 'amd64',
          'kubernetes.io/os': 'linux',
          'kubernetes.io/hostname': n.name,
          type: 'kwok',
          ...n.labels,
        },
      },
      spec: { taints: n.taints },
      status: { capacity: n.capacity, allocatable: n.capacity },
    };
    await core.createNode({ body }).catch((e: unknown) => {
      if (!(e instanceof ApiException && e.code === 409)) throw e;
    });
  }
  for (const n of nodes) {
    await waitFor(
      `node ${n.name} (kwok)`,
      async () => {
        const node = await core.readNode({ name: n.name });
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
        return ready?.status === 'True' ? undefined : `Ready is ${ready?.status ?? 'not reported yet'}`;
      },
      timeoutMs,
    );
  }
}

/** Create a namespace if missing. */
export async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name } } })
    .catch((e: unknown) => {
      if (!(e instanceof ApiException && e.code === 409)) throw e;
    });
}

/**
 * Install Argo CD's CRDs and its configuration objects (every ConfigMap and
 * Secret of its install.yaml) into `namespace`, and do the two things
 * argocd-server does on its first start (it does not run here): generate
 * argocd-secret's `server.secretkey`, which the controllers refuse to run
 * without, and create the `default` AppProject.
 */
export async function installArgoCd(
  kc: KubeConfig,
  files: { crds: string[]; install: string },
  namespace: string,
  timeoutMs: number,
): Promise<{ crds: string[]; config: string[] }> {
  const crdNames = await installCrds(kc, files.crds, timeoutMs);
  await ensureNamespace(kc, namespace);
  const config = (await readManifests(files.install))
    .filter((o) => o.kind === 'ConfigMap' || o.kind === 'Secret')
    .map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
  if (!config.some((o) => o.metadata?.name === 'argocd-cm'))
    throw new ProjectError(
      'INVALID',
      `${files.install}: no argocd-cm ConfigMap; is this Argo CD's install.yaml?`,
    );
  await applyObjects(kc, config);
  await applyObjects(kc, [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'argocd-secret', namespace },
      data: { 'server.secretkey': randomBytes(32).toString('base64') },
    } as KubernetesObject,
  ]);
  // The `default` AppProject, as argocd-server creates it on start
  // (server/server.go initializeDefaultProject): created once, never overwritten.
  await kc
    .makeApiClient(CustomObjectsApi)
    .createNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace,
      plural: 'appprojects',
      body: {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AppProject',
        metadata: { name: 'default', namespace },
        spec: {
          sourceRepos: ['*'],
          destinations: [{ server: '*', namespace: '*' }],
          clusterResourceWhitelist: [{ group: '*', kind: '*' }],
        },
      },
    })
    .catch((e: unknown) => {
      if (!(e instanceof ApiException && e.code === 409)) throw e;
    });
  return { crds: crdNames, config: config.map((o) => `${o.kind}/${o.metadata?.name}`) };
}
