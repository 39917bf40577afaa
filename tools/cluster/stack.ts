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
 * <dir>/logs/; `up` waits for each one's health endpoint before starting the
 * next that needs it, and on any failure stops what it had started.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { ProjectError } from '../../platform/errors.ts';
import {
  createObjectStore,
  type ObjectStoreConfig,
  objectStoreEnv,
} from '../../platform/object-store/index.ts';
import { gitCommonDir } from './git.ts';
import {
  createKwokNodes,
  DEFAULT_NODES,
  ensureNamespace,
  installArgoCd,
  installCrds,
  KWOK_NODE_ANNOTATION,
  type KwokNodeSpec,
  registerMetricsApi,
} from './kube.ts';
import {
  newS3Credentials,
  SEAWEEDFS_PORTS,
  type SeaweedfsPorts,
  seaweedfsArgs,
  seaweedfsEndpoint,
  seaweedfsEnv,
  writeS3Identities,
} from './object-store.ts';
import { freePorts } from './ports.ts';
import { type Probe, probe, waitReady } from './probe.ts';
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

/** The namespace of the Argo Rollouts controller (its install's). */
export const ROLLOUTS_NAMESPACE = 'argo-rollouts';

/** The bucket `up` creates in the object store: OBJECT_STORE_BUCKET of manifests/base. */
export const CLUSTER_BUCKET = 'gitops-ml';

/** The loader that lets Node run the TypeScript Git server script (tsx, a dependency). */
function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}
const GIT_SERVER_SCRIPT = fileURLToPath(new URL('../../scripts/git-server.ts', import.meta.url));
const METRICS_API_SCRIPT = fileURLToPath(new URL('../../scripts/metrics-api.ts', import.meta.url));

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

/** Start the whole stack; resolves to its state once every component is healthy. */
export async function clusterUp(options: UpOptions): Promise<ClusterState> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const tools = options.tools ?? findClusterTools(env);
  const dir = resolve(options.dir);
  const timeout = options.readyTimeoutMs ?? 120_000;
  const ns = options.argocdNamespace ?? 'argocd';
  const resync = options.appResyncSeconds ?? 120;
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
  const ports = await freePorts([
    'etcdPort',
    'etcdPeer',
    'apiPort',
    'cmPort',
    'schedPort',
    'kwokPort',
    'metricsPort',
    'redisPort',
    'gitPort',
    'repoPort',
    'repoMetrics',
    'appMetrics',
    'appsetMetrics',
    'appsetProbe',
    'appsetWebhook',
    'rolloutsMetrics',
    'rolloutsHealthz',
    ...SEAWEEDFS_PORTS.map((p) => `store:${p}` as const),
  ]);
  const { etcdPort, etcdPeer, apiPort, cmPort, schedPort, kwokPort, metricsPort, redisPort, gitPort } = ports;
  const { repoPort, repoMetrics, appMetrics, appsetMetrics, appsetProbe, appsetWebhook } = ports;
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = join(dir, 'kubeconfig');
  const token = randomBytes(24).toString('hex');
  const redisPassword = randomBytes(24).toString('hex');
  const repoName = options.repoName ?? 'repo';
  const gitUrl = `http://127.0.0.1:${gitPort}/${repoName}.git`;
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
  const storeDir = join(dir, 'object-store');

  const state: ClusterState = {
    format: STATE_FORMAT,
    dir,
    startedAt: new Date().toISOString(),
    kubeconfig,
    server,
    git: { url: gitUrl, gitDir },
    objectStore: {
      endpoint: storeConfig.endpoint as string,
      region: storeConfig.region,
      bucket: CLUSTER_BUCKET,
      envFile: join(storeDir, 'object-store.env'),
    },
    argocdNamespace: ns,
    components: [],
  };

  const start = async (
    name: string,
    command: string,
    args: string[],
    address: string,
    readiness: Probe,
    extraEnv: NodeJS.ProcessEnv = {},
  ): Promise<ComponentState> => {
    const logFile = join(logs, `${name}.log`);
    log(`starting ${name} on ${address}`);
    const pid = await startDaemon({ name, command, args, logFile, env: { ...env, ...extraEnv }, cwd: dir });
    const c: ComponentState = { name, pid, command, address, logFile, probe: readiness };
    state.components.push(c);
    await writeState(state);
    await waitReady(c, () => probe(readiness), timeout);
    return c;
  };

  try {
    // 1. etcd.
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    await start(
      'etcd',
      tools.etcd,
      [
        '--name=local',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=local=http://127.0.0.1:${etcdPeer}`,
        '--listen-metrics-urls=',
        '--log-level=warn',
        '--quota-backend-bytes=1073741824',
      ],
      etcdUrl,
      { kind: 'http', url: `${etcdUrl}/health` },
    );

    // 2. kube-apiserver: a static admin token (group system:masters), RBAC,
    // a generated service-account signing key, a self-signed serving cert.
    await writeFile(join(pki, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await writeFile(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const apiCert = join(pki, 'apiserver', 'apiserver.crt');
    await start(
      'kube-apiserver',
      tools.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(pki, 'apiserver')}`,
        `--token-auth-file=${join(pki, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--enable-priority-and-fairness=false',
        // Watches straight from etcd. Through the watch cache, kwok's watches end at
        // once with "a watch stream was requested by the client but the required
        // storage feature RequestWatchProgress is disabled" (the cache needs etcd's
        // progress notifications, which Debian's etcd 3.4.23 lacks), and kwok sees a
        // pod only at its next relist: 5 to 55 s before a pod turned Running, measured;
        // without the cache, under 0.3 s.
        '--watch-cache=false',
        '--profiling=false',
        '--v=0',
      ],
      server,
      { kind: 'http', url: `${server}/readyz`, token },
    );
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server, 'certificate-authority': apiCert } }],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin' } }],
        'current-context': 'local',
      }),
      { mode: 0o600 },
    );
    // From here on the probe verifies the serving cert.
    const ca = await readFile(apiCert, 'utf8');
    const api = state.components.find((c) => c.name === 'kube-apiserver') as ComponentState;
    api.probe = { kind: 'http', url: `${server}/readyz`, token, ca };
    await writeState(state);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);

    // 3. Controller manager and scheduler, as admin, serving /healthz on loopback.
    const componentAuth = [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
      '--profiling=false',
    ];
    await start(
      'kube-controller-manager',
      tools.kubeControllerManager,
      [
        ...componentAuth,
        `--secure-port=${cmPort}`,
        `--cert-dir=${join(pki, 'controller-manager')}`,
        `--service-account-private-key-file=${join(pki, 'sa.key')}`,
        `--root-ca-file=${apiCert}`,
        '--use-service-account-credentials=false',
        '--service-cluster-ip-range=10.96.0.0/16',
        '--v=0',
      ],
      `https://127.0.0.1:${cmPort}`,
      { kind: 'http', url: `https://127.0.0.1:${cmPort}/healthz` },
    );
    await start(
      'kube-scheduler',
      tools.kubeScheduler,
      [...componentAuth, `--secure-port=${schedPort}`, `--cert-dir=${join(pki, 'scheduler')}`, '--v=0'],
      `https://127.0.0.1:${schedPort}`,
      { kind: 'http', url: `https://127.0.0.1:${schedPort}/healthz` },
    );

    // 4. kwok: the kubelet of the nodes annotated kwok.x-k8s.io/node=fake.
    await start(
      'kwok',
      tools.kwok,
      [
        `--kubeconfig=${kubeconfig}`,
        ...tools.kwokStages.map((s) => `--config=${s}`),
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
        '--manage-nodes-with-label-selector=',
        '--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom',
        '--disregard-status-with-label-selector=',
        // Addresses kwok gives the simulated nodes and pods (never routed to: nothing listens there).
        '--cidr=10.0.0.1/24',
        '--node-ip=10.0.0.1',
        '--node-lease-duration-seconds=40',
        `--server-address=127.0.0.1:${kwokPort}`,
      ],
      `http://127.0.0.1:${kwokPort}`,
      { kind: 'http', url: `http://127.0.0.1:${kwokPort}/healthz` },
    );
    const nodes = options.nodes ?? DEFAULT_NODES;
    log(`registering kwok nodes ${nodes.map((n) => n.name).join(', ')}`);
    await createKwokNodes(kc, nodes, timeout);

    // 4b. The resource metrics API of the kwok pods (tools/cluster/metrics-api.ts), which
    // HorizontalPodAutoscalers read, behind the aggregation layer. It serves with the
    // API server's own self-signed loopback certificate.
    const metricsUrl = `https://127.0.0.1:${metricsPort}`;
    await start(
      'metrics-api',
      process.execPath,
      [
        '--import',
        tsxLoaderUrl(),
        METRICS_API_SCRIPT,
        `--kubeconfig=${kubeconfig}`,
        `--cert=${apiCert}`,
        `--key=${join(pki, 'apiserver', 'apiserver.key')}`,
        `--port=${metricsPort}`,
      ],
      metricsUrl,
      { kind: 'http', url: `${metricsUrl}/healthz`, ca },
    );
    log('registering the APIService v1beta1.metrics.k8s.io');
    await registerMetricsApi(kc, metricsPort, timeout);

    // 5. Redis (Argo CD's cache), with a password as Argo CD's own install sets one.
    // The password goes in a 0600 config file, not on the command line (where `ps` shows it).
    await mkdir(join(dir, 'redis'), { recursive: true, mode: 0o700 });
    const redisConf = join(dir, 'redis', 'redis.conf');
    await writeFile(
      redisConf,
      [
        'bind 127.0.0.1',
        `port ${redisPort}`,
        `requirepass ${redisPassword}`,
        'save ""',
        'appendonly no',
        `dir ${join(dir, 'redis')}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    await start('redis', tools.redisServer, [redisConf], `127.0.0.1:${redisPort}`, {
      kind: 'redis',
      port: redisPort,
      password: redisPassword,
    });

    // 6. The Git server.
    await start(
      'git-server',
      process.execPath,
      [
        '--import',
        tsxLoaderUrl(),
        GIT_SERVER_SCRIPT,
        `--repo=${gitDir}`,
        `--name=${repoName}`,
        `--port=${gitPort}`,
        ...(options.gitPush ? ['--allow-push'] : []),
      ],
      gitUrl,
      { kind: 'http', url: `http://127.0.0.1:${gitPort}/healthz` },
    );

    // 6b. The object store: SeaweedFS's S3 API with a key pair made for this cluster, in a
    // 0600 identities file; the settings a process needs to use it, credentials included,
    // in a 0600 env file (docs/object-store.md); then the bucket the manifests name.
    await mkdir(join(storeDir, 'data'), { recursive: true, mode: 0o700 });
    const identitiesFile = join(storeDir, 's3-identities.json');
    const credentials = storeConfig.credentials as { accessKeyId: string; secretAccessKey: string };
    await writeS3Identities(identitiesFile, [
      { name: 'admin', ...credentials, actions: ['Admin', 'Read', 'List', 'Write', 'Tagging'] },
    ]);
    await writeFile(
      join(storeDir, 'object-store.env'),
      Object.entries(objectStoreEnv(storeConfig))
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
      { mode: 0o600 },
    );
    await start(
      'object-store',
      tools.seaweedfs,
      seaweedfsArgs({ dataDir: join(storeDir, 'data'), identitiesFile, ports: storePorts }),
      `${storeConfig.endpoint} (S3)`,
      { kind: 'http', url: `${storeConfig.endpoint}/healthz` },
      seaweedfsEnv(env),
    );
    log(`creating bucket ${CLUSTER_BUCKET}`);
    const store = createObjectStore(storeConfig);
    try {
      await store.ensureBucket(CLUSTER_BUCKET);
    } finally {
      store.close();
    }

    // 7. Argo CD: CRDs and configuration from its own manifests, then its controllers.
    log(`installing Argo CD CRDs and configuration into namespace ${ns}`);
    await installArgoCd(kc, { crds: tools.argocdCrds, install: tools.argocdInstall }, ns, timeout);
    log("installing prometheus-operator's CRDs");
    await installCrds(kc, tools.prometheusOperatorCrds, timeout);
    const argoData = join(dir, 'argocd');
    for (const sub of ['tmp', 'home', 'tls', 'ssh', 'gpg/keys', 'gpg/source'])
      await mkdir(join(argoData, sub), { recursive: true, mode: 0o700 });
    const argoEnv = (binary: string): NodeJS.ProcessEnv => ({
      ARGOCD_BINARY_NAME: binary,
      // The in-cluster destination (https://kubernetes.default.svc) is this
      // kubeconfig's cluster (Argo CD's own local-development switch).
      ARGOCD_FAKE_IN_CLUSTER: 'true',
      KUBECONFIG: kubeconfig,
      REDIS_PASSWORD: redisPassword,
      HOME: join(argoData, 'home'),
      TMPDIR: join(argoData, 'tmp'),
      ARGOCD_TLS_DATA_PATH: join(argoData, 'tls'),
      ARGOCD_SSH_DATA_PATH: join(argoData, 'ssh'),
      ARGOCD_GNUPGHOME: join(argoData, 'gpg', 'keys'),
      ARGOCD_GPG_DATA_PATH: join(argoData, 'gpg', 'source'),
      ARGOCD_GPG_ENABLED: 'false',
      // repo-server runs `kustomize` and `git` from PATH; ours first.
      PATH: `${tools.argocdBin}:${env.PATH ?? ''}`,
      GIT_CONFIG_NOSYSTEM: '1',
    });
    const common = [`--kubeconfig=${kubeconfig}`, `--namespace=${ns}`, '--logformat=text', '--loglevel=info'];
    const redis = `--redis=127.0.0.1:${redisPort}`;
    await start(
      'argocd-repo-server',
      tools.argocd,
      [
        redis,
        '--address=127.0.0.1',
        `--port=${repoPort}`,
        '--metrics-address=127.0.0.1',
        `--metrics-port=${repoMetrics}`,
        '--logformat=text',
        '--loglevel=info',
        '--parallelismlimit=2',
        // How long a resolved revision (HEAD → commit) is reused: as long as the
        // controller waits between two reads of Git (Argo CD's defaults: 3 min and
        // 2 min; a Git webhook, which this stack does not have, refreshes at once).
        `--revision-cache-expiration=${resync}s`,
      ],
      `127.0.0.1:${repoPort}`,
      { kind: 'http', url: `http://127.0.0.1:${repoMetrics}/healthz` },
      argoEnv('argocd-repo-server'),
    );
    await start(
      'argocd-application-controller',
      tools.argocd,
      [
        ...common,
        redis,
        `--repo-server=127.0.0.1:${repoPort}`,
        // Argo CD binds this port on every interface (controller/appcontroller.go); nothing else of it listens.
        `--metrics-port=${appMetrics}`,
        `--app-resync=${resync}`,
        '--status-processors=4',
        '--operation-processors=2',
      ],
      `0.0.0.0:${appMetrics} (metrics, health)`,
      { kind: 'http', url: `http://127.0.0.1:${appMetrics}/healthz` },
      argoEnv('argocd-application-controller'),
    );
    await start(
      'argocd-applicationset-controller',
      tools.argocd,
      [
        ...common,
        `--argocd-repo-server=127.0.0.1:${repoPort}`,
        `--metrics-addr=127.0.0.1:${appsetMetrics}`,
        // Unused (see the probe below), but bound to loopback rather than its default :8081.
        `--probe-addr=127.0.0.1:${appsetProbe}`,
        `--webhook-addr=127.0.0.1:${appsetWebhook}`,
        '--enable-scm-providers=false',
      ],
      `127.0.0.1:${appsetWebhook} (webhook)`,
      // It registers no health or ready checks on its probe address (its
      // Deployment has no probes either); its metrics answer once the manager runs.
      { kind: 'http', url: `http://127.0.0.1:${appsetMetrics}/metrics` },
      argoEnv('argocd-applicationset-controller'),
    );

    // 8. Argo Rollouts (optional): its CRDs, then its controller, which watches every
    // namespace. POD_NAMESPACE is where it looks for its notification settings (none here).
    if (rollouts) {
      log("installing Argo Rollouts' CRDs");
      await installCrds(kc, rollouts.crds, timeout);
      await ensureNamespace(kc, ROLLOUTS_NAMESPACE);
      const { rolloutsMetrics, rolloutsHealthz } = ports;
      await start(
        'argo-rollouts-controller',
        rollouts.controller,
        [
          `--kubeconfig=${kubeconfig}`,
          // Argo Rollouts binds both on every interface (controller/controller.go listenAddr "0.0.0.0:%d").
          `--metricsport=${rolloutsMetrics}`,
          `--healthzPort=${rolloutsHealthz}`,
          '--leader-elect=false',
          '--logformat=text',
          '--loglevel=info',
        ],
        `0.0.0.0:${rolloutsMetrics} (metrics), :${rolloutsHealthz} (health)`,
        { kind: 'http', url: `http://127.0.0.1:${rolloutsHealthz}/healthz` },
        { POD_NAMESPACE: ROLLOUTS_NAMESPACE },
      );
    }
    await writeState(state);
    return state;
  } catch (e) {
    log(`start failed; stopping what was started`);
    await stopComponents(state.components);
    throw e;
  }
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

/** The default state folder: .cache/cluster in the repository (ignored by git). */
export function defaultClusterDir(repoRoot: string): string {
  return join(repoRoot, '.cache', 'cluster');
}
