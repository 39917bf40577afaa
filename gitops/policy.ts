/**
 * Policy checks on rendered objects, beyond their schemas:
 * - every container: resource requests and limits (cpu, memory), and the
 *   Pod Security Standards "restricted" profile (non-root, no privilege
 *   escalation, capabilities drop ALL, RuntimeDefault seccomp) plus a
 *   read-only root filesystem;
 *   https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
 * - long-running workloads: liveness and readiness probes;
 * - an environment's pin: names a version in models.lock.json, with the
 *   lock entry's URI and digests (docs/contracts.md); or, while the lock
 *   pins nothing to the environment, no server at all (the "no model yet" pin);
 * - the AppProject allows every kind and namespace an environment renders;
 * - least-privilege RBAC: only namespaced Roles bound by RoleBindings, no
 *   wildcard, no Secrets, no escalate/bind/impersonate; and NetworkPolicies
 *   whose every rule names its peers (no rule that admits everyone).
 * Each function returns problem lines (empty when all is well); an object
 * whose fields are not of the shape the checks read (shapes.ts) is a problem
 * line too, never a TypeError.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { type Lock, pinnedImage } from '../lock/index.ts';
import {
  DEPLOYMENT_NAME,
  isDigestRef,
  PIN_ENV,
  PIN_FILE,
  PIN_SIGNATURE_ENV,
  pinAnnotations,
  pinEnv,
  pinSignatureValue,
  SERVER_CONTAINER,
  TAG_ALLOWED_ENVS,
} from '../model/pin.ts';
import { stableStringify } from '../platform/json.ts';
import { groupOf, type KubeObject, objectId } from './objects.ts';
import {
  type Read,
  readAppProject,
  readHorizontalPodAutoscaler,
  readNetworkPolicy,
  readPodAnnotations,
  readPodSpec,
  readRoleRef,
  readRoleRules,
  valueAt,
} from './shapes.ts';

const LONG_RUNNING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);

/** `<object>: cannot check <what>: <field>: <why>`, one line per field the checks could not read. */
const unreadable = (obj: KubeObject, what: string, problems: string[]): string[] =>
  problems.map((p) => `${objectId(obj)}: cannot check ${what}: ${p}`);

/** Each object of `kind`, read typed and checked by `check`; or the lines saying what could not be read. */
function checkEach<T>(
  objects: KubeObject[],
  kind: string,
  what: string,
  read: (o: KubeObject) => Read<T>,
  check: (o: KubeObject, value: T) => string[],
): string[] {
  return objects
    .filter((o) => o.kind === kind)
    .flatMap((o) => {
      const r = read(o);
      return r.problems ? unreadable(o, what, r.problems) : check(o, r.value);
    });
}

function containerProblems(obj: KubeObject, pod: IPodSpec, c: IContainer, init: boolean): string[] {
  const where = `${objectId(obj)} ${init ? 'init container' : 'container'} "${c.name}"`;
  const out: string[] = [];
  for (const section of ['requests', 'limits'] as const) {
    for (const res of ['cpu', 'memory'] as const) {
      if (c.resources?.[section]?.[res] === undefined) out.push(`${where}: no resources.${section}.${res}`);
    }
  }
  const sc = c.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) out.push(`${where}: runAsNonRoot is not true`);
  const uid = sc.runAsUser ?? psc.runAsUser;
  if (uid === 0) out.push(`${where}: runAsUser is 0 (root)`);
  if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
  if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem is not true`);
  if (sc.privileged === true) out.push(`${where}: privileged is true`);
  const drop = sc.capabilities?.drop ?? [];
  if (!drop.includes('ALL')) out.push(`${where}: capabilities.drop does not include ALL`);
  const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type;
  if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
    out.push(`${where}: seccompProfile.type is not RuntimeDefault`);
  }
  if (!init && LONG_RUNNING_KINDS.has(obj.kind)) {
    if (!c.livenessProbe) out.push(`${where}: no livenessProbe`);
    if (!c.readinessProbe) out.push(`${where}: no readinessProbe`);
  }
  return out;
}

/** Resources, restricted securityContext and probes of every container of every workload. */
export function workloadProblems(objects: KubeObject[]): string[] {
  const out: string[] = [];
  for (const obj of objects) {
    const read = readPodSpec(obj);
    if (!read) continue;
    if (read.problems) {
      out.push(...unreadable(obj, 'the pod spec', read.problems));
      continue;
    }
    const pod = read.value;
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push(`${objectId(obj)}: uses host namespaces`);
    for (const c of pod.initContainers ?? []) out.push(...containerProblems(obj, pod, c, true));
    for (const c of pod.containers ?? []) out.push(...containerProblems(obj, pod, c, false));
  }
  return out;
}

/**
 * Images by digest: in every environment but those that may run a tag
 * (TAG_ALLOWED_ENVS: dev), each container of each workload must name its image
 * `…@sha256:<hex>`, so what runs is what was built and attested, never a moved tag.
 */
export function imageProblems(objects: KubeObject[], env: string): string[] {
  if (TAG_ALLOWED_ENVS.includes(env)) return [];
  const out: string[] = [];
  for (const obj of objects) {
    // An unreadable pod spec is reported by workloadProblems.
    const pod = readPodSpec(obj)?.value;
    for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
      if (!isDigestRef(String(c.image ?? ''))) {
        out.push(
          `${objectId(obj)} container "${c.name}": image ${c.image ?? '(none)'} is a tag without a digest; ${env} runs only images by digest (promote it from the environment before it, which carries the image@sha256 it ran)`,
        );
      }
    }
  }
  return out;
}

/** What a rendered environment pins, read from its Deployment. */
export interface RenderedPin {
  model?: string;
  version?: string;
  /** The server container's image. */
  image?: string;
  env: Record<string, string | undefined>;
  annotations: Record<string, string>;
}

/** Read the pin out of the rendered Deployment `model-server`; undefined when there is no such Deployment. */
export function renderedPin(objects: KubeObject[]): RenderedPin | undefined {
  const dep = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === DEPLOYMENT_NAME);
  if (!dep) return undefined;
  // A pod spec or annotations of the wrong shape read as empty: workloadProblems names the field.
  const server = readPodSpec(dep)?.value?.containers.find((c) => c.name === SERVER_CONTAINER);
  const env: Record<string, string | undefined> = {};
  for (const e of server?.env ?? [])
    if ((PIN_ENV as readonly string[]).includes(e.name) || e.name === PIN_SIGNATURE_ENV)
      env[e.name] = e.value;
  const annotations = readPodAnnotations(dep).value ?? {};
  return {
    model: env.SERVING_MODEL_NAME,
    version: env.SERVING_MODEL_VERSION,
    image: server?.image,
    env,
    annotations,
  };
}

/**
 * Check an environment's pin against the lock: the Deployment carries every
 * SERVING_MODEL_* variable and ml.gitops/* annotation, the version exists in
 * `lockPath`, its URI and digests are the lock entry's, and the lock's
 * `pins.<env>` names the same version. No Deployment at all is the "no model
 * yet" state: fine while no model of the lock pins `env`.
 */
export function pinProblems(objects: KubeObject[], env: string, lock: Lock, lockPath: string): string[] {
  const pin = renderedPin(objects);
  const dep = `Deployment/${DEPLOYMENT_NAME}`;
  if (!pin) {
    // The "no model yet" pin (gitops/pin.ts renderNoModelPin) leaves the Deployment out: right
    // while the lock pins nothing to the environment, wrong once it does.
    const pinned = Object.entries(lock.models).filter(([, m]) => m.pins?.[env] !== undefined);
    return pinned.map(
      ([model, m]) =>
        `no ${dep} rendered, but ${lockPath} pins ${env} to ${model}@${m.pins[env]}: environments/${env}/${PIN_FILE} is not its pin (npm run promote -- --env ${env} --version ${m.pins[env]} writes it)`,
    );
  }
  const missing = PIN_ENV.filter((n) => !pin.env[n]);
  if (missing.length)
    return [`${dep} container "${SERVER_CONTAINER}": no pin (missing ${missing.join(', ')})`];
  const model = pin.model!;
  const version = pin.version!;
  const m = lock.models[model];
  if (!m) {
    const names = Object.keys(lock.models).sort().join(', ') || 'none';
    return [`pins model "${model}", which is not in ${lockPath} (models: ${names})`];
  }
  const entry = m.versions[version];
  if (!entry) {
    const versions = Object.keys(m.versions).sort().join(', ') || 'none';
    return [`pins ${model} version "${version}", which is not in ${lockPath} (versions: ${versions})`];
  }
  const out: string[] = [];
  const want = pinEnv(model, version, entry);
  for (const name of PIN_ENV) {
    if (name === 'SERVING_MODEL_DIGESTS') {
      let same = false;
      try {
        same = stableStringify(JSON.parse(pin.env[name]!)) === stableStringify(entry.digests);
      } catch {
        same = false;
      }
      if (!same)
        out.push(`${dep}: SERVING_MODEL_DIGESTS differs from ${lockPath} ${model}@${version} digests`);
    } else if (pin.env[name] !== want[name]) {
      out.push(`${dep}: ${name} is "${pin.env[name]}", ${lockPath} ${model}@${version} says "${want[name]}"`);
    }
  }
  const signature = pinSignatureValue(entry);
  if (pin.env[PIN_SIGNATURE_ENV] !== signature) {
    out.push(
      signature
        ? `${dep}: ${PIN_SIGNATURE_ENV} is not the signature ${lockPath} has for ${model}@${version}`
        : `${dep}: sets ${PIN_SIGNATURE_ENV}, but ${lockPath} ${model}@${version} is not signed`,
    );
  }
  for (const [k, v] of Object.entries(pinAnnotations(model, version, entry))) {
    if (pin.annotations[k] !== v)
      out.push(`${dep}: pod annotation ${k} is "${pin.annotations[k] ?? ''}", expected "${v}"`);
  }
  const image = pinnedImage(lock, model, env);
  if (image !== undefined && pin.image !== image) {
    out.push(
      `${dep} container "${SERVER_CONTAINER}": image is ${pin.image}, but ${lockPath} records ${image} for ${env}`,
    );
  }
  const locked = m.pins?.[env];
  if (locked === undefined) {
    out.push(
      `pins ${model}@${version} but ${lockPath} has no pin for "${env}" (models.${model}.pins.${env})`,
    );
  } else if (locked !== version) {
    out.push(`pins ${model}@${version} but ${lockPath} pins ${env} to ${locked}`);
  }
  return out;
}

const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** Verbs that hand out more than they say (https://kubernetes.io/docs/concepts/security/rbac-good-practices/). */
const DANGEROUS_VERBS = new Set(['escalate', 'bind', 'impersonate']);

/**
 * Least-privilege RBAC: no ClusterRole or ClusterRoleBinding (every grant is
 * in the namespace it is for), a RoleBinding binds a Role (not a ClusterRole
 * such as admin or edit), and no rule uses `*`, reaches Secrets, or grants
 * escalate, bind or impersonate.
 * @see https://kubernetes.io/docs/concepts/security/rbac-good-practices/
 */
export function rbacProblems(objects: KubeObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    if (groupOf(o.apiVersion) !== RBAC_GROUP) continue;
    if (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') {
      out.push(`${objectId(o)}: cluster-wide RBAC; grant a Role in the namespace it is for`);
    } else if (o.kind === 'RoleBinding') {
      const ref = readRoleRef(o);
      if (ref.problems) out.push(...unreadable(o, 'what it binds', ref.problems));
      else if (ref.value.kind !== 'Role')
        out.push(`${objectId(o)}: binds ${ref.value.kind}/${ref.value.name}; bind a Role of this namespace`);
    } else if (o.kind === 'Role') {
      const rules = readRoleRules(o);
      if (rules.problems) {
        out.push(...unreadable(o, 'its rules', rules.problems));
        continue;
      }
      rules.value.forEach((rule, i) => {
        const where = `${objectId(o)}: rules[${i}]`;
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames'] as const) {
          if ((rule[field] ?? []).includes('*')) out.push(`${where}: ${field} has "*"; list what is needed`);
        }
        if ((rule.resources ?? []).some((r) => r === 'secrets' || r.startsWith('secrets/'))) {
          out.push(`${where}: reaches Secrets`);
        }
        for (const verb of rule.verbs) {
          if (DANGEROUS_VERBS.has(verb)) out.push(`${where}: grants "${verb}"`);
        }
      });
    }
  }
  return out;
}

/**
 * A NetworkPolicy names who may come in and where traffic may go: every
 * ingress rule has `from`, every egress rule has `to` (a rule without them
 * admits every peer).
 * @see https://kubernetes.io/docs/concepts/services-networking/network-policies/
 */
export function networkPolicyProblems(objects: KubeObject[]): string[] {
  return checkEach(objects, 'NetworkPolicy', 'its rules', readNetworkPolicy, (o, spec) => [
    ...(spec.ingress ?? []).flatMap((rule, i) =>
      rule.from?.length ? [] : [`${objectId(o)}: ingress[${i}] has no "from": it admits every source`],
    ),
    ...(spec.egress ?? []).flatMap((rule, i) =>
      rule.to?.length ? [] : [`${objectId(o)}: egress[${i}] has no "to": it allows every destination`],
    ),
  ]);
}

/** Replica count within the HPA's bounds, for each Deployment that has an HPA. */
export function scalingProblems(objects: KubeObject[]): string[] {
  return checkEach(
    objects,
    'HorizontalPodAutoscaler',
    'its scale target',
    readHorizontalPodAutoscaler,
    (hpa, spec) => {
      const ref = spec.scaleTargetRef;
      const target = objects.find((o) => o.kind === ref.kind && o.metadata?.name === ref.name);
      if (!target) return [`${objectId(hpa)}: scales ${ref.kind}/${ref.name}, which is not rendered`];
      const min = spec.minReplicas ?? 1;
      const max = spec.maxReplicas;
      const replicas = valueAt(target, ['spec', 'replicas']);
      if (typeof replicas === 'number' && (replicas < min || replicas > max)) {
        return [`${objectId(target)}: replicas ${replicas} outside ${objectId(hpa)} bounds ${min}..${max}`];
      }
      return [];
    },
  );
}

/**
 * An environment's objects against the Argo CD AppProject: each kind is in
 * the namespace-resource whitelist, each object in the namespace the
 * ApplicationSet deploys the environment to (`ml-<env>`), which is one of the
 * project's destinations.
 */
export function projectProblems(objects: KubeObject[], env: string, project: KubeObject): string[] {
  const ns = `ml-${env}`;
  const read = readAppProject(project);
  if (read.problems) return unreadable(project, `what it allows ${ns}`, read.problems);
  const out: string[] = [];
  const allowed = read.value.namespaceResourceWhitelist ?? [];
  const destinations = read.value.destinations ?? [];
  if (!destinations.some((d) => d.namespace === ns || d.namespace === '*')) {
    out.push(`namespace ${ns} is not a destination of AppProject/${project.metadata?.name}`);
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const group = groupOf(o.apiVersion);
    const key = `${group}/${o.kind}`;
    if (!seen.has(key)) {
      seen.add(key);
      const ok = allowed.some(
        (a) => (a.group === group || a.group === '*') && (a.kind === o.kind || a.kind === '*'),
      );
      if (!ok) {
        out.push(
          `kind ${o.kind} (group "${group}") is not in AppProject/${project.metadata?.name} namespaceResourceWhitelist`,
        );
      }
    }
    if (o.metadata?.namespace !== ns) {
      out.push(`${objectId(o)} is in namespace "${o.metadata?.namespace ?? ''}", expected ${ns}`);
    }
  }
  return out;
}

/**
 * Every check of one rendered environment: images by digest, the pin against
 * the lock, and (when the AppProject is rendered) what the project allows.
 */
export function environmentProblems(
  objects: KubeObject[],
  env: string,
  lock: Lock,
  lockPath: string,
  project: KubeObject | undefined,
): string[] {
  return [
    ...imageProblems(objects, env),
    ...pinProblems(objects, env, lock, lockPath),
    ...(project ? projectProblems(objects, env, project) : []),
  ];
}
