/**
 * Run one container of a pod template with podman as the
 * kubelet would start it, so a test of an image runs it the way its manifest
 * does. What is carried over from the pod spec:
 *
 * - the user and group (`runAsUser`/`runAsGroup`, container over pod;
 *   `runAsNonRoot` refuses uid 0), `fsGroup` as a supplementary group;
 * - `readOnlyRootFilesystem` (podman's own tmpfs on /tmp, /run, /var/tmp is
 *   turned off: only the pod's volumes are writable), `allowPrivilegeEscalation:
 *   false` (no-new-privileges), dropped and added capabilities, the runtime's
 *   default seccomp profile;
 * - memory and CPU limits;
 * - `command` (the image's ENTRYPOINT and CMD are replaced), `args` (the
 *   image's CMD is replaced, its ENTRYPOINT kept), `workingDir`;
 * - the environment the caller read with ../cluster/pod-template.ts templateEnv;
 * - every volume mount: an `emptyDir` without a host folder given becomes a
 *   tmpfs, any other volume needs a host folder from the caller (its files
 *   projected there); and the termination message file the kubelet provides.
 *
 * Not carried over: probes (the test calls their paths), the pod network
 * (the caller maps ports, or shares the host's network to reach a service
 * started on loopback).
 * @see https://kubernetes.io/docs/tasks/configure-pod-container/security-context/
 * @see https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/
 */
import type { V1Container, V1PodSpec, V1Probe } from '@kubernetes/client-node';
import { ProjectError } from '../../platform/errors.ts';
import { type Podman, podman } from './podman.ts';

export interface PodContainerRun {
  image: string;
  pod: V1PodSpec;
  /** The container's name, among `containers` or `initContainers`. */
  container: string;
  /** Its environment (templateEnv of ../cluster/pod-template.ts). */
  env: Record<string, string>;
  /** Host folder of a volume, by volume name (an emptyDir without one is a tmpfs). */
  volumes?: Record<string, string>;
  /** A host file for the container's termination message (its terminationMessagePath). */
  terminationLog?: string;
  /** Container port → host port, published on 127.0.0.1. */
  ports?: Record<number, number>;
  /** Share the host's network (to reach a service the test started on loopback). */
  hostNetwork?: boolean;
  /** More mounts the pod does not have (a repository the test serves to the container). */
  extraMounts?: { host: string; path: string; readOnly?: boolean }[];
  /** The podman container name. */
  name: string;
}

/** A Kubernetes quantity as a number (CPU in cores, memory in bytes). */
export function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q.trim());
  if (!m) throw new Error(`not a Kubernetes quantity: ${q}`);
  const factor: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  return Number(m[1]) * (m[2] ? (factor[m[2]] as number) : 1);
}

/** The container of the pod spec by name (regular or init), or an error naming what is there. */
export function containerOf(pod: V1PodSpec, name: string): V1Container {
  const all = [...(pod.initContainers ?? []), ...pod.containers];
  const c = all.find((x) => x.name === name);
  if (!c)
    throw new Error(`no container "${name}" in the pod spec (it has ${all.map((x) => x.name).join(', ')})`);
  return c;
}

/** `podman run` arguments (after `run`) for the container, as the file comment says. */
export function podmanRunArgs(o: PodContainerRun): string[] {
  const c = containerOf(o.pod, o.container);
  const where = `container ${o.container}`;
  const psc = o.pod.securityContext ?? {};
  const sc = c.securityContext ?? {};
  const args = ['--name', o.name, '--pull=never'];
  const user = sc.runAsUser ?? psc.runAsUser;
  const group = sc.runAsGroup ?? psc.runAsGroup;
  if ((sc.runAsNonRoot ?? psc.runAsNonRoot) && user === 0)
    throw new Error(`${where}: runAsNonRoot with runAsUser 0`);
  if (user !== undefined) args.push('--user', group !== undefined ? `${user}:${group}` : String(user));
  if (psc.fsGroup !== undefined) args.push('--group-add', String(psc.fsGroup));
  if (sc.readOnlyRootFilesystem) args.push('--read-only', '--read-only-tmpfs=false');
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  for (const cap of sc.capabilities?.drop ?? []) args.push('--cap-drop', cap);
  for (const cap of sc.capabilities?.add ?? []) args.push('--cap-add', cap);
  const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
  if (seccomp === 'Unconfined') args.push('--security-opt', 'seccomp=unconfined');
  else if (seccomp && seccomp !== 'RuntimeDefault')
    throw new Error(`${where}: seccompProfile ${seccomp} not supported here`);
  const limits = c.resources?.limits ?? {};
  if (limits.memory !== undefined) args.push('--memory', String(Math.round(quantity(limits.memory))));
  if (limits.cpu !== undefined) args.push('--cpus', String(quantity(limits.cpu)));
  for (const [k, v] of Object.entries(o.env).sort(([a], [b]) => a.localeCompare(b)))
    args.push('--env', `${k}=${v}`);
  for (const m of c.volumeMounts ?? []) {
    if (m.subPath || m.subPathExpr)
      throw new Error(`${where}: volume mount ${m.name} uses a subPath (not supported here)`);
    const host = o.volumes?.[m.name];
    const volume = o.pod.volumes?.find((v) => v.name === m.name);
    if (!volume) throw new Error(`${where}: mounts volume ${m.name}, which the pod does not have`);
    if (host) args.push('--volume', `${host}:${m.mountPath}:${m.readOnly ? 'ro' : 'rw'}`);
    else if (volume.emptyDir) {
      const size = volume.emptyDir.sizeLimit
        ? `,size=${Math.round(quantity(volume.emptyDir.sizeLimit))}`
        : '';
      args.push('--tmpfs', `${m.mountPath}:rw,exec,mode=1777${size}`);
    } else
      throw new Error(
        `${where}: volume ${m.name} needs a host folder (its files as the kubelet projects them)`,
      );
  }
  for (const m of o.extraMounts ?? [])
    args.push('--volume', `${m.host}:${m.path}:${m.readOnly ? 'ro' : 'rw'}`);
  if (o.terminationLog) {
    args.push('--volume', `${o.terminationLog}:${c.terminationMessagePath ?? '/dev/termination-log'}:rw`);
  }
  if (c.workingDir) args.push('--workdir', c.workingDir);
  if (o.hostNetwork) args.push('--network', 'host');
  for (const [container, host] of Object.entries(o.ports ?? {}))
    args.push('--publish', `127.0.0.1:${host}:${container}`);
  if (c.command) args.push('--entrypoint', JSON.stringify(c.command));
  args.push(o.image);
  // command without args: the image's CMD is not used either (Kubernetes); podman drops it with --entrypoint.
  args.push(...(c.args ?? []));
  return args;
}

/** Start the container detached; resolves with its name. */
export async function startPodContainer(p: Podman, o: PodContainerRun): Promise<string> {
  await podman(p, ['run', '--detach', ...podmanRunArgs(o)], { timeoutMs: 120_000 });
  return o.name;
}

/** Run the container to its end (removed afterwards); resolves with its exit code and output. */
export async function runPodContainer(
  p: Podman,
  o: PodContainerRun,
  timeoutMs = 600_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return podman(p, ['run', '--rm', ...podmanRunArgs(o)], { timeoutMs, nothrow: true });
}

/** The container's logs (stdout and stderr), '' when it is gone. */
export async function containerLogs(p: Podman, name: string): Promise<string> {
  const r = await podman(p, ['logs', name], { nothrow: true, timeoutMs: 30_000 });
  return `${r.stdout}${r.stderr}`;
}

/** Remove the container, running or not. */
export async function removeContainer(p: Podman, name: string): Promise<void> {
  await podman(p, ['rm', '--force', '--time', '10', name], { nothrow: true, timeoutMs: 60_000 });
}

/** The HTTP path and container port of a probe (httpGet; a named port resolved from the container's ports). */
export function probeOf(
  c: V1Container,
  probe: V1Probe | undefined,
  what: string,
): { path: string; port: number } {
  const get = probe?.httpGet;
  if (!get?.path) throw new Error(`container ${c.name}: no httpGet ${what}`);
  const port =
    typeof get.port === 'number' ? get.port : c.ports?.find((x) => x.name === get.port)?.containerPort;
  if (!port) throw new Error(`container ${c.name}: ${what} port ${String(get.port)} is not one of its ports`);
  return { path: get.path, port };
}

/**
 * Poll `url` until it answers 200; fails with the container's logs when the
 * container stops first or `timeoutMs` runs out. `status` makes one request
 * and gives its status (default: fetch; an HTTPS probe passes one that trusts
 * the container's certificate).
 */
export async function waitContainerOk(
  p: Podman,
  container: string,
  url: string,
  timeoutMs: number,
  status: (url: string) => Promise<number> = async (u) =>
    (await fetch(u, { signal: AbortSignal.timeout(2000) })).status,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const code = await status(url);
      if (code === 200) return;
      last = `HTTP ${code}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (!(await containerRunning(p, container))) {
      throw new ProjectError('UNAVAILABLE', `container ${container} stopped before ${url} answered`, {
        subject: container,
        hint: `its logs:\n${await containerLogs(p, container)}`,
      });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new ProjectError('UNAVAILABLE', `${url} did not answer 200 in ${timeoutMs} ms (${last})`, {
    subject: container,
    hint: `the container's logs:\n${await containerLogs(p, container)}`,
  });
}

/** Whether the container exists and runs. */
export async function containerRunning(p: Podman, container: string): Promise<boolean> {
  const r = await podman(p, ['inspect', '--format', '{{.State.Running}}', container], {
    nothrow: true,
    timeoutMs: 30_000,
  });
  return r.stdout.trim() === 'true';
}
