/**
 * The environment a container of a Deployment's (or a ReplicaSet's) pod
 * template would start with, read from the cluster. kwok pods run no
 * container, so `npm run cluster -- serve` (./serve-pod.ts) runs the pod's
 * container itself with podman on exactly this environment, and a test that
 * wants what the pod would serve can also start the program on the host with
 * it (serving/main.ts for the model server; testing/cluster.ts readTemplateEnv
 * and localPodEnv).
 *
 * `env` entries with a plain `value` or a `secretKeyRef` (read as the kubelet
 * does: an `optional` reference to a Secret or key that is not there sets
 * nothing, any other is an error, as the pod would not start), and `envFrom`
 * ConfigMaps (each key that is a valid variable name; `env` wins over them, as
 * the kubelet does). ConfigMaps and Secrets are read from the cluster, or from
 * rendered manifests ({@link templateEnv}). Anything else (other valueFrom
 * sources, envFrom Secrets, prefixes) is refused naming the entry: the caller
 * would start a process with another environment than the pod's.
 * tools/containers/pod.ts runs a container of a pod template with
 * podman on the same reading.
 * @see https://kubernetes.io/docs/tasks/inject-data-application/define-environment-variable-container/
 */
import { ApiException, CoreV1Api, type KubeConfig, type V1PodTemplateSpec } from '@kubernetes/client-node';

export interface PodTemplateEnv {
  /** Variable → value, as the container would see it (image defaults aside). */
  env: Record<string, string>;
  /** The pod template's annotations (the pin's ml.gitops/* among them). */
  annotations: Record<string, string>;
  /** The Deployment's (ReplicaSet's) generation it was read at. */
  generation: number;
  /**
   * Files the kubelet would project into the container from the pod's own
   * annotations (Downward API volumes: path in the container → content; a
   * missing annotation projects an empty file).
   */
  files: Record<string, string>;
}

const ANNOTATION_FIELD = /^metadata\.annotations\['([^']+)'\]$/;

const VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** A ConfigMap's data by name (from the cluster, or from rendered manifests). */
export type ConfigMapData = (name: string) => Promise<Record<string, string>>;

/** A Secret's key, decoded; undefined when the Secret or the key is not there. */
export type SecretData = (name: string, key: string) => Promise<string | undefined>;

/** The namespace's ConfigMaps and Secrets, read from the cluster. */
export function clusterSources(kc: KubeConfig, namespace: string): [ConfigMapData, SecretData] {
  const core = kc.makeApiClient(CoreV1Api);
  return [
    async (name) => (await core.readNamespacedConfigMap({ name, namespace })).data ?? {},
    async (name, key) => {
      try {
        const data = (await core.readNamespacedSecret({ name, namespace })).data ?? {};
        return data[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString('utf8');
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return undefined;
        throw e;
      }
    },
  ];
}

/**
 * The environment and projected files of `container` in a pod template (the
 * rules in the file comment), its ConfigMaps and Secrets read through
 * `configMaps` and `secrets`.
 */
export async function templateEnv(
  template: V1PodTemplateSpec | undefined,
  container: string,
  where: string,
  configMaps: ConfigMapData,
  /** Secrets' keys (`secretKeyRef`): without them, a variable taken from a Secret is refused. */
  secrets?: SecretData,
): Promise<Omit<PodTemplateEnv, 'generation'>> {
  const spec = [...(template?.spec?.initContainers ?? []), ...(template?.spec?.containers ?? [])].find(
    (c) => c.name === container,
  );
  if (!spec) throw new Error(`${where}: no such container in the pod template`);
  const env: Record<string, string> = {};
  for (const from of spec.envFrom ?? []) {
    if (!from.configMapRef?.name || from.prefix || from.secretRef)
      throw new Error(`${where}: envFrom ${JSON.stringify(from)} is not a plain ConfigMap reference`);
    const data = await configMaps(from.configMapRef.name);
    for (const [k, v] of Object.entries(data)) if (VAR_NAME.test(k)) env[k] = v;
  }
  for (const e of spec.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    const other = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.fieldRef ?? e.valueFrom?.resourceFieldRef;
    if (ref && !other && secrets) {
      const value = await secrets(ref.name ?? '', ref.key);
      if (value !== undefined) env[e.name] = value;
      else if (!ref.optional)
        throw new Error(
          `${where}: env ${e.name}: Secret ${ref.name} has no key ${ref.key} (the pod would not start)`,
        );
      continue;
    }
    if (e.valueFrom) throw new Error(`${where}: env ${e.name} takes its value from elsewhere (valueFrom)`);
    env[e.name] = e.value ?? '';
  }
  const annotations = template?.metadata?.annotations ?? {};
  const files: Record<string, string> = {};
  for (const mount of spec.volumeMounts ?? []) {
    const volume = template?.spec?.volumes?.find((v) => v.name === mount.name);
    for (const item of volume?.downwardAPI?.items ?? []) {
      const key = ANNOTATION_FIELD.exec(item.fieldRef?.fieldPath ?? '')?.[1];
      if (!key) throw new Error(`${where}: downwardAPI item ${item.path} is not a pod annotation`);
      files[`${mount.mountPath.replace(/\/$/, '')}/${item.path}`] = annotations[key] ?? '';
    }
  }
  return { env, annotations, files };
}
