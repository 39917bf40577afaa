/**
 * The local cluster, as one unit: `up` starts etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kwok (with a CPU node and a
 * GPU-like node), Redis, a Git server serving the repository, the object
 * store (SeaweedFS's S3 API, ./object-store.ts), Argo CD's CRDs
 * and configuration from its own manifests, and Argo CD's repo-server,
 * application-controller and applicationset-controller, all on 127.0.0.1
 * (and, when asked, Argo Rollouts' CRDs and controller);
 * `status` probes what `up` recorded; `down` stops exactly that.
 *
 * Each component is a local process started detached with its log in
 * <dir>/logs/ (./components.ts, one table); `up` waits for each one's health
 * endpoint before starting the next, and on any failure stops what it had started.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import type { ObjectStoreConfig } from '../../platform/object-store/index.ts';
import { CLUSTER_BUCKET, COMPONENTS, type Daemon, PORT_NAMES, type UpContext } from './components.ts';
import { gitCommonDir } from './git.ts';
import type { KwokNodeSpec } from './kube.ts';
import { newS3Credentials, SEAWEEDFS_PORTS, type SeaweedfsPorts, seaweedfsEndpoint } from './object-store.ts';
import { freePorts } from './ports.ts';
import { probe, waitReady } from './probe.ts';
import { isRunning, startDaemon, stopDaemon } from './process.ts';
import {
  type ClusterState,
  type ComponentState,
  readState,
  STATE_FORMAT,
  statePath,
  writeState,
} from './state.ts';
import { type ClusterTools, findClusterTools, findRolloutsTools, type RolloutsTools } from './tools.ts';

export interface UpOptions {
  /** State folder (created; must not hold a running cluster). */
  dir: string;
  /** A checkout or bare repository to serve over Git (default: the current directory's). */
  repo?: string;
  /** Served at /<repoName>.git (default "repo"). */
  repoName?: string;
  /** Let the Git server accept pushes (tests push promotion commits). */
  gitPush?: boolean;
  /** Nodes to register (default: one CPU node, one GPU-like node). */
  nodes?: KwokNodeSpec[];
  /** Argo CD's namespace (default argocd). */
  argocdNamespace?: string;
  /**
   * How often the application-controller re-reads Git, in seconds (its
   * --app-resync; Argo CD's default is 120). Tests use less.
   */
  appResyncSeconds?: number;
  /** Resolved programs (default: findClusterTools()). */
  tools?: ClusterTools;
  /**
   * Also run Argo Rollouts (`up --with rollouts`): its CRDs from its own
   * manifests/crds/ and its controller (scripts/setup.d/64-argo-rollouts.sh).
   */
  rollouts?: boolean;
  /** Resolved Argo Rollouts programs (default: findRolloutsTools() when `rollouts`). */
  rolloutsTools?: RolloutsTools;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Per-component readiness timeout (default 120 s; kube-apiserver's first start on 2 busy cores is slow). */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export { CLUSTER_BUCKET, ROLLOUTS_NAMESPACE } from './components.ts';

/** Refuse to start over a running cluster; clear a stopped one's leftovers. */
async function checkNotRunning(dir: string): Promise<void> {
  const old = await readState(dir);
  if (!old) return;
  const running = [];
  for (const c of old.components)
    if (await isRunning(c.pid, c.command)) running.push(`${c.name} (pid ${c.pid})`);
  if (running.length > 0) {
    throw new ProjectError('CONFLICT', `a cluster is already running from ${dir}: ${running.join(', ')}`, {
      subject: dir,
      hint: '`npm run cluster -- status` shows it; `npm run cluster -- down` stops it',
    });
  }
}

/**
 * Start the whole stack, the components of ./components.ts one after the
 * other; resolves to its state once every component is healthy.
 */
export async function clusterUp(options: UpOptions): Promise<ClusterState> {
  const c = await prepareUp(options);
  try {
    for (const component of COMPONENTS) {
      if (component.enabled && !component.enabled(c)) continue;
      await component.before?.(c);
      const self = await startComponent(c, component.name, component.daemon(c));
      await component.after?.(c, self);
    }
    await writeState(c.state);
    return c.state;
  } catch (e) {
    c.log(`start failed; stopping what was started`);
    await stopComponents(c.state.components);
    throw e;
  }
}

/**
 * Resolve the options and programs, refuse a running cluster, clear a stopped
 * one's data, take the ports, and make the keys and the state every component reads.
 */
async function prepareUp(options: UpOptions): Promise<UpContext> {
  const env = options.env ?? process.env;
  const tools = options.tools ?? findClusterTools(env);
  const dir = resolve(options.dir);
  // Resolved before anything starts, so a missing build is named at once.
  const rollouts = options.rollouts ? (options.rolloutsTools ?? findRolloutsTools(env)) : undefined;
  await checkNotRunning(dir);
  // Holds keys and the admin token: this user only.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const gitDir = await gitCommonDir(resolve(options.repo ?? '.'));

  // A fresh cluster each time: etcd data, keys, stored objects and logs of a stopped one go.
  for (const sub of [...DATA, 'logs', 'state.json'])
    await rm(join(dir, sub), { recursive: true, force: true });
  const logs = join(dir, 'logs');
  const pki = join(dir, 'pki');
  await mkdir(logs, { recursive: true });
  await mkdir(pki, { recursive: true, mode: 0o700 });

  // One call: the ports are held open together, so no two components get the same one.
  const ports = await freePorts([...PORT_NAMES]);
  const storePorts = Object.fromEntries(
    SEAWEEDFS_PORTS.map((p) => [p, ports[`store:${p}`]]),
  ) as SeaweedfsPorts;
  const storeConfig: ObjectStoreConfig = {
    endpoint: seaweedfsEndpoint(storePorts),
    region: 'us-east-1',
    bucket: CLUSTER_BUCKET,
    credentials: newS3Credentials(),
    forcePathStyle: true,
  };
  const repoName = options.repoName ?? 'repo';
  const base = {
    dir,
    server: `https://127.0.0.1:${ports.apiPort}`,
    kubeconfig: join(dir, 'kubeconfig'),
    gitUrl: `http://127.0.0.1:${ports.gitPort}/${repoName}.git`,
    gitDir,
    storeConfig,
    storeDir: join(dir, 'object-store'),
    ns: options.argocdNamespace ?? 'argocd',
  };
  return {
    ...base,
    options,
    env,
    log: options.log ?? (() => {}),
    tools,
    ...(rollouts ? { rollouts } : {}),
    logs,
    pki,
    timeout: options.readyTimeoutMs ?? 120_000,
    resync: options.appResyncSeconds ?? 120,
    ports,
    token: randomBytes(24).toString('hex'),
    apiCert: join(pki, 'apiserver', 'apiserver.crt'),
    redisPassword: randomBytes(24).toString('hex'),
    repoName,
    storePorts,
    state: initialState(base),
  };
}

/** The state `up` records from the start, before any component runs. */
function initialState(
  c: Pick<
    UpContext,
    'dir' | 'server' | 'kubeconfig' | 'gitUrl' | 'gitDir' | 'storeConfig' | 'storeDir' | 'ns'
  >,
): ClusterState {
  return {
    format: STATE_FORMAT,
    dir: c.dir,
    startedAt: new Date().toISOString(),
    kubeconfig: c.kubeconfig,
    server: c.server,
    git: { url: c.gitUrl, gitDir: c.gitDir },
    objectStore: {
      endpoint: c.storeConfig.endpoint as string,
      region: c.storeConfig.region,
      bucket: CLUSTER_BUCKET,
      envFile: join(c.storeDir, 'object-store.env'),
    },
    argocdNamespace: c.ns,
    components: [],
  };
}

/** Start one component's daemon with its log in logs/, record it in the state, and wait until it is ready. */
async function startComponent(c: UpContext, name: string, d: Daemon): Promise<ComponentState> {
  const logFile = join(c.logs, `${name}.log`);
  c.log(`starting ${name} on ${d.address}`);
  const pid = await startDaemon({
    name,
    command: d.command,
    args: d.args,
    logFile,
    env: { ...c.env, ...d.env },
    cwd: c.dir,
  });
  const self: ComponentState = {
    name,
    pid,
    command: d.command,
    address: d.address,
    logFile,
    probe: d.readiness,
  };
  c.state.components.push(self);
  await writeState(c.state);
  await waitReady(self, () => probe(d.readiness), c.timeout);
  return self;
}

/** What `down` removes and `up` starts without: etcd's data, keys, caches, the stored objects and their keys. */
const DATA = ['etcd', 'pki', 'argocd', 'redis', 'object-store', 'kubeconfig'];

async function stopComponents(components: ComponentState[]): Promise<string[]> {
  const stopped: string[] = [];
  for (const c of [...components].reverse()) {
    if (await stopDaemon(c.pid, c.command)) stopped.push(c.name);
  }
  return stopped;
}

/**
 * Stop every process `up` started from `dir` (reverse order), and remove the
 * cluster's data (etcd, keys); logs stay. Resolves to the names it stopped.
 */
export async function clusterDown(dir: string): Promise<{ stopped: string[]; found: boolean }> {
  const state = await readState(resolve(dir));
  if (!state) return { stopped: [], found: false };
  const stopped = await stopComponents(state.components);
  for (const sub of DATA) await rm(join(state.dir, sub), { recursive: true, force: true });
  await rm(statePath(state.dir), { force: true });
  return { stopped, found: true };
}

export interface ComponentStatus {
  name: string;
  pid: number;
  address: string;
  running: boolean;
  healthy: boolean;
  logFile: string;
}

/** Probe every component `up` recorded in `dir`; undefined when none was started there. */
export async function clusterStatus(
  dir: string,
): Promise<{ state: ClusterState; components: ComponentStatus[] } | undefined> {
  const state = await readState(resolve(dir));
  if (!state) return undefined;
  const components = await Promise.all(
    state.components.map(async (c) => {
      const running = await isRunning(c.pid, c.command);
      const healthy = running && (await probe(c.probe));
      return { name: c.name, pid: c.pid, address: c.address, running, healthy, logFile: c.logFile };
    }),
  );
  return { state, components };
}
