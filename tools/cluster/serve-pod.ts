/**
 * `npm run cluster -- serve --env <env>`: the model server of an environment
 * as its synced pod would run, on the local cluster. kwok's nodes run no
 * container, so this plays the kubelet for one pod: it reads the Deployment
 * Argo CD synced into `ml-<env>` (its pod template: the image by digest, the
 * environment from its ConfigMaps and Secrets, the Downward API files, the
 * user, the read-only root filesystem, the limits) and runs that image with
 * podman the way tools/containers/pod.ts carries a pod spec over, publishing
 * the container's port on 127.0.0.1. The image must be in the local podman
 * store: `npm run cluster -- image` builds it from this checkout and prints
 * the digest reference to promote with.
 *
 * Where the pin's model lives: a local folder (path or `file:` URI) is
 * mounted read-only where the server looks for it, as a volume would put it
 * there (a relative path: under the container's working directory); a
 * store on this machine's loopback (the cluster's object store, an MLflow
 * on 127.0.0.1) is reached through the host's network, and then only the
 * port the server listens on differs from the pod's (SERVING_PORT).
 */
import { constants } from 'node:fs';
import { access, chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import { ApiException, AppsV1Api, type KubeConfig, type V1PodSpec } from '@kubernetes/client-node';
import { localDirOf } from '../../platform/artifact-store/location.ts';
import { ProjectError } from '../../platform/errors.ts';
import {
  containerOf,
  probeOf,
  removeContainer,
  startPodContainer,
  waitContainerOk,
} from '../containers/pod.ts';
import { imageId, type Podman, podman } from '../containers/podman.ts';
import { clusterSources, templateEnv } from './pod-template.ts';
import { freePort } from './ports.ts';

export interface ServePodOptions {
  kc: KubeConfig;
  podman: Podman;
  /** The environment: its namespace is `ml-<env>`. */
  env: string;
  /** Where the projected files go (a folder per volume). */
  dir: string;
  /** Host port on 127.0.0.1 (default: a free one). */
  port?: number;
  deployment?: string;
  container?: string;
  /** The podman container's name (default `gitops-ml-<namespace>-<deployment>`; a container of that name is replaced). */
  name?: string;
  /** The checkout a relative model path is relative to (default: the current folder). */
  cwd?: string;
  /** How long the server may take to turn ready (its readiness probe's path answering 200). */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ServedPod {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The podman container's name. */
  name: string;
  /** The image the pod template names (what Argo CD synced). */
  image: string;
  /** The pod template's environment, as the kubelet would set it. */
  env: Record<string, string>;
  annotations: Record<string, string>;
  stop: () => Promise<void>;
}

/** The podman container `serve` runs for an environment's model server by default. */
export const servedPodName = (env: string, deployment = 'model-server'): string =>
  `gitops-ml-ml-${env}-${deployment}`;

const LOOPBACK = /:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/;

/** Start the pod's container (see the file comment); resolves once its readiness path answers 200. */
export async function servePod(o: ServePodOptions): Promise<ServedPod> {
  const namespace = `ml-${o.env}`;
  const deploymentName = o.deployment ?? 'model-server';
  const containerName = o.container ?? 'server';
  const where = `Deployment ${namespace}/${deploymentName}`;
  const dep = await o.kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: deploymentName, namespace })
    .catch((e: unknown) => {
      if (e instanceof ApiException && e.code === 404)
        throw new ProjectError('NOT_FOUND', `${where} does not exist`, {
          subject: where,
          cause: e,
          hint: `${o.env} runs no model yet (its "no model yet" pin) or Argo CD has not synced it: promote a version (npm run promote -- --env ${o.env} --image <the reference npm run cluster -- image printed> --commit) and wait for the sync`,
        });
      throw e;
    });
  const template = dep.spec?.template;
  const pod = template?.spec as V1PodSpec;
  const container = containerOf(pod, containerName);
  const image = container.image ?? '';
  if (!(await imageId(o.podman, image)))
    throw new ProjectError('NOT_FOUND', `the image ${image} of ${where} is not in the local podman store`, {
      subject: image,
      hint: "build this checkout's with `npm run cluster -- image` and promote with the digest reference it prints (a registry's image would have to be pulled first: podman pull)",
    });
  const { env, files, annotations } = await templateEnv(
    template,
    containerName,
    `${where}, container ${containerName}`,
    ...clusterSources(o.kc, namespace),
  );
  const volumes = await projectVolumes(pod, containerName, files, o.dir);
  const extraMounts = await modelMounts(o, env, image, container.workingDir, where);
  const hostNetwork = Object.values(env).some((v) => LOOPBACK.test(v));
  const port = o.port ?? (await freePort());
  const http = container.ports?.find((p) => p.name === 'http') ?? container.ports?.[0];
  if (!http) throw new ProjectError('INVALID', `${where}: container ${containerName} declares no port`);
  const name = o.name ?? servedPodName(o.env, deploymentName);
  await removeContainer(o.podman, name);
  if (hostNetwork)
    o.log?.(
      `the pod's environment names a service on this machine's loopback: sharing the host's network, the server listens on ${port} (SERVING_PORT) instead of ${http.containerPort}`,
    );
  await startPodContainer(o.podman, {
    image,
    pod,
    container: containerName,
    env: hostNetwork ? { ...env, SERVING_PORT: String(port) } : env,
    volumes,
    extraMounts,
    ...(hostNetwork ? { hostNetwork: true } : { ports: { [http.containerPort]: port } }),
    name,
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => removeContainer(o.podman, name);
  try {
    const ready = probeOf(container, container.readinessProbe, 'readinessProbe');
    await waitContainerOk(o.podman, name, `${url}${ready.path}`, o.readyTimeoutMs ?? 180_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, name, image, env, annotations, stop };
}

/**
 * The Downward API files of the container's volumes, written under `dir/<volume>`
 * (readable by the pod's user): volume name → host folder.
 */
async function projectVolumes(
  pod: V1PodSpec,
  container: string,
  files: Record<string, string>,
  dir: string,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const mount of containerOf(pod, container).volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    if (!volume?.downwardAPI) continue;
    const host = join(dir, mount.name);
    await rm(host, { recursive: true, force: true });
    await mkdir(host, { recursive: true, mode: 0o755 });
    await chmod(host, 0o755);
    for (const item of volume.downwardAPI.items ?? []) {
      const file = join(host, item.path);
      await writeFile(file, files[`${mount.mountPath.replace(/\/$/, '')}/${item.path}`] ?? '', {
        mode: 0o644,
      });
      await chmod(file, 0o644);
    }
    out[mount.name] = host;
  }
  return out;
}

/**
 * A local model folder, mounted read-only where the pod's SERVING_MODEL_URI
 * points (none for a remote store). A relative path (a model trained here
 * without MLflow: relative to the lock's folder, this checkout) is where the
 * server resolves it, under the container's working directory.
 */
async function modelMounts(
  o: ServePodOptions,
  env: Record<string, string>,
  image: string,
  workingDir: string | undefined,
  where: string,
): Promise<{ host: string; path: string; readOnly: boolean }[]> {
  const uri = env.SERVING_MODEL_URI;
  if (!uri) return [];
  const cwd = o.cwd ?? process.cwd();
  const dir = localDirOf(uri, cwd);
  if (!dir) return [];
  let path = dir;
  if (!isAbsolute(decodeURIComponent(uri.replace(/^file:(\/\/)?/, '')))) {
    const base =
      workingDir ??
      (
        await podman(o.podman, ['image', 'inspect', '--format', '{{.Config.WorkingDir}}', image], {
          timeoutMs: 60_000,
        })
      ).stdout.trim();
    path = posix.join(base || '/', relative(cwd, dir).split(sep).join('/'));
    o.log?.(
      `the pin's model is ${uri}, a folder of this checkout (trained without MLflow): mounted at ${path}; a real cluster needs it in a store (MLflow, s3://)`,
    );
  }
  await access(dir, constants.R_OK).catch((e: unknown) => {
    throw new ProjectError(
      'NOT_FOUND',
      `${where}: the model folder ${dir} (SERVING_MODEL_URI ${uri}) is not here`,
      { subject: dir, cause: e },
    );
  });
  const unreadable = await unreadableByOthers(dir);
  if (unreadable)
    throw new ProjectError('INVALID', `${where}: ${unreadable} cannot be read by the pod's user`, {
      subject: unreadable,
      hint: `the container runs as a non-root user: chmod -R a+rX ${dir}`,
    });
  return [{ host: dir, path, readOnly: true }];
}

/** The first file or folder under `dir` (itself included) that others may not read (or enter), if any. */
async function unreadableByOthers(dir: string): Promise<string | undefined> {
  const s = await stat(dir);
  if (s.isDirectory()) {
    if ((s.mode & 0o005) !== 0o005) return dir;
    for (const e of await readdir(dir)) {
      const bad = await unreadableByOthers(join(dir, e));
      if (bad) return bad;
    }
    return undefined;
  }
  return (s.mode & 0o004) === 0 ? dir : undefined;
}
