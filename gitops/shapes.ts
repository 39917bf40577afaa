/**
 * Typed reads of rendered objects for the policy checks (policy.ts) and the
 * render summary (render.ts). Each reader checks the fields the checks read,
 * with an ajv schema compiled once, and hands them over typed with their
 * kubernetes-models interface; or it gives the problem lines that keep the
 * checks from reading them (containers that are not a list, an env entry
 * without a name...), so a malformed object is a problem in the render
 * report, never a TypeError. The whole object is checked against its schema
 * by schemas.ts; these schemas cover only what is read, and allow the rest.
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodSpec
 */
import type { IAppProjectSpec } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProjectSpec';
import type { IHorizontalPodAutoscalerSpec } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscalerSpec';
import type { INetworkPolicySpec } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicySpec';
import type { IPolicyRule } from 'kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule';
import type { IRoleRef } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleRef';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { ajv, formatAjvErrors } from '../platform/schema.ts';
import type { KubeObject } from './objects.ts';

/** What a reader gives: the value, typed, or one problem line per field that is not as read. */
export type Read<T> = { value: T; problems?: undefined } | { value?: undefined; problems: string[] };

/** The value at `path` under `root`, or undefined where a step is not a mapping. */
export function valueAt(root: unknown, path: readonly string[]): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Compile `schema` once; the reader names each problem by its JSON pointer from the object's root. */
function reader<T>(schema: object): (value: unknown, path: readonly string[]) => Read<T> {
  const validate = ajv.compile(schema);
  return (value, path) => {
    if (validate(value)) return { value: value as T };
    const at = path.map((p) => `/${p}`).join('');
    return {
      problems: formatAjvErrors(validate.errors).map((l) =>
        l.startsWith('/:') ? `${at || '/'}${l.slice(1)}` : `${at}${l}`,
      ),
    };
  };
}

const object = (properties: Record<string, object>, required: string[] = []) => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
});
const boolean = { type: 'boolean' };
const string = { type: 'string' };
const integer = { type: 'integer' };
const listOf = (items: object) => ({ type: 'array', items });
const seccompProfile = object({ type: string });

/** The fields of a pod spec the policy checks read. */
const POD_SPEC = (() => {
  const container = object(
    {
      name: string,
      image: string,
      resources: object({ requests: { type: 'object' }, limits: { type: 'object' } }),
      securityContext: object({
        runAsNonRoot: boolean,
        runAsUser: integer,
        allowPrivilegeEscalation: boolean,
        readOnlyRootFilesystem: boolean,
        privileged: boolean,
        capabilities: object({ drop: listOf(string) }),
        seccompProfile,
      }),
      env: listOf(object({ name: string, value: string }, ['name'])),
      livenessProbe: { type: 'object' },
      readinessProbe: { type: 'object' },
    },
    ['name'],
  );
  return object(
    {
      containers: listOf(container),
      initContainers: listOf(container),
      securityContext: object({ runAsNonRoot: boolean, runAsUser: integer, seccompProfile }),
      hostNetwork: boolean,
      hostPID: boolean,
      hostIPC: boolean,
    },
    ['containers'],
  );
})();

const readPodSpecAt = reader<IPodSpec>(POD_SPEC);
const readAnnotations = reader<Record<string, string>>({
  type: 'object',
  additionalProperties: string,
});
const readHpaSpec = reader<IHorizontalPodAutoscalerSpec>(
  object(
    {
      scaleTargetRef: object({ kind: string, name: string }, ['kind', 'name']),
      minReplicas: integer,
      maxReplicas: integer,
    },
    ['scaleTargetRef', 'maxReplicas'],
  ),
);
const readAppProjectSpec = reader<IAppProjectSpec>(
  object({
    namespaceResourceWhitelist: listOf(object({ group: string, kind: string }, ['group', 'kind'])),
    destinations: listOf(object({ namespace: string })),
  }),
);

/** Where each kind keeps its pod template (CronJob: in its job template). */
const POD_TEMPLATE_PATH: Record<string, readonly string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** The pod spec of a workload, typed; undefined for kinds without one. */
export function readPodSpec(obj: KubeObject): Read<IPodSpec> | undefined {
  const path =
    obj.kind === 'Pod' ? ['spec'] : POD_TEMPLATE_PATH[obj.kind] && [...POD_TEMPLATE_PATH[obj.kind]!, 'spec'];
  return path ? readPodSpecAt(valueAt(obj, path), path) : undefined;
}

/** The pod template's annotations of a workload (none when absent). */
export function readPodAnnotations(obj: KubeObject): Read<Record<string, string>> {
  const path = [...(POD_TEMPLATE_PATH[obj.kind] ?? ['spec', 'template']), 'metadata', 'annotations'];
  return readAnnotations(valueAt(obj, path) ?? {}, path);
}

/** A HorizontalPodAutoscaler's spec: its target and bounds. */
export const readHorizontalPodAutoscaler = (hpa: KubeObject): Read<IHorizontalPodAutoscalerSpec> =>
  readHpaSpec(hpa.spec, ['spec']);

/** An Argo CD AppProject's spec: the kinds and destinations it allows (none when absent). */
export const readAppProject = (project: KubeObject): Read<IAppProjectSpec> =>
  readAppProjectSpec(project.spec ?? {}, ['spec']);

const readRulesAt = reader<IPolicyRule[]>(
  listOf(
    object(
      {
        apiGroups: listOf(string),
        resources: listOf(string),
        verbs: listOf(string),
        resourceNames: listOf(string),
      },
      ['verbs'],
    ),
  ),
);
const readRoleRefAt = reader<IRoleRef>(object({ kind: string, name: string }, ['kind', 'name']));
const readNetworkPolicySpecAt = reader<INetworkPolicySpec>(
  object({
    ingress: listOf(object({ from: { type: 'array' } })),
    egress: listOf(object({ to: { type: 'array' } })),
  }),
);

/** A Role's rules (none when absent). */
export const readRoleRules = (role: KubeObject): Read<IPolicyRule[]> =>
  readRulesAt(role.rules ?? [], ['rules']);

/** What a RoleBinding binds. */
export const readRoleRef = (binding: KubeObject): Read<IRoleRef> =>
  readRoleRefAt(binding.roleRef, ['roleRef']);

/** A NetworkPolicy's ingress and egress rules (none when absent). */
export const readNetworkPolicy = (policy: KubeObject): Read<INetworkPolicySpec> =>
  readNetworkPolicySpecAt(policy.spec ?? {}, ['spec']);
