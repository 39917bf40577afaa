/**
 * The components of the local cluster, in start order, as one table: each
 * is a daemon (program, arguments, address, readiness probe, environment),
 * with what must exist before it starts (keys, configuration files, CRDs)
 * and what is done once it is ready (the kubeconfig, the kwok nodes, the
 * bucket). ./stack.ts `clusterUp` prepares an UpContext and starts them one
 * after the other. Why this table rather than `kwokctl --runtime binary`,
 * which starts the control-plane half of it: docs/cluster.md.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import {
  createObjectStore,
  type ObjectStoreConfig,
  objectStoreEnv,
} from '../../platform/object-store/index.ts';
import {
  createKwokNodes,
  DEFAULT_NODES,
  ensureNamespace,
  installArgoCd,
  installCrds,
  KWOK_NODE_ANNOTATION,
  registerMetricsApi,
} from './kube.ts';
import {
  SEAWEEDFS_PORTS,
  type SeaweedfsPorts,
  seaweedfsArgs,
  seaweedfsEnv,
  writeS3Identities,
} from './object-store.ts';
import type { Probe } from './probe.ts';
import type { UpOptions } from './stack.ts';
import { type ClusterState, type ComponentState, writeState } from './state.ts';
import type { ClusterTools, RolloutsTools } from './tools.ts';

/** The namespace of the Argo Rollouts controller (its install's). */
export const ROLLOUTS_NAMESPACE = 'argo-rollouts';

/** The bucket `up` creates in the object store: OBJECT_STORE_BUCKET of manifests/base. */
export const CLUSTER_BUCKET = 'gitops-ml';

/** The ports `up` takes, one call to freePorts for all of them. */
export const PORT_NAMES = [
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
] as const;
export type PortName = (typeof PORT_NAMES)[number];

/** What every component of one `up` sees: the resolved options, ports, paths and secrets, and the state being recorded. */
export interface UpContext {
  options: UpOptions;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  tools: ClusterTools;
  /** Resolved when `options.rollouts`. */
  rollouts?: RolloutsTools;
  /** The state folder, its logs/ and pki/. */
  dir: string;
  logs: string;
  pki: string;
  /** Per-component readiness timeout, ms. */
  timeout: number;
  /** Argo CD's namespace and --app-resync, seconds. */
  ns: string;
  resync: number;
  ports: Record<PortName, number>;
  /** kube-apiserver's URL, the admin kubeconfig and token, the API server's serving certificate. */
  server: string;
  kubeconfig: string;
  token: string;
  apiCert: string;
  redisPassword: string;
  gitDir: string;
  repoName: string;
  gitUrl: string;
  storePorts: SeaweedfsPorts;
  storeConfig: ObjectStoreConfig;
  storeDir: string;
  state: ClusterState;
  /** The admin client and the API server's CA, once kube-apiserver is ready. */
  api?: { kc: KubeConfig; ca: string };
}

/** What one component runs: a local process started detached, its address, and the probe that says it is ready. */
export interface Daemon {
  command: string;
  args: string[];
  address: string;
  readiness: Probe;
  /** Over the environment of `up`. */
  env?: NodeJS.ProcessEnv;
}

/** One component of the stack. */
export interface Component {
  name: string;
  /** Started only when this holds (default: always). */
  enabled?: (c: UpContext) => boolean;
  /** What must exist before it starts. */
  before?: (c: UpContext) => Promise<void>;
  daemon: (c: UpContext) => Daemon;
  /** What is done once it is ready. */
  after?: (c: UpContext, self: ComponentState) => Promise<void>;
}

/** The loader that lets Node run the TypeScript scripts of the Git server and the metrics API (tsx, a dependency). */
function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}
const GIT_SERVER_SCRIPT = fileURLToPath(new URL('../../scripts/git-server.ts', import.meta.url));
const METRICS_API_SCRIPT = fileURLToPath(new URL('../../scripts/metrics-api.ts', import.meta.url));

/** The admin client and CA, which exist from kube-apiserver on. */
function api(c: UpContext): { kc: KubeConfig; ca: string } {
  // A bug of the table's order, not of the user's input.
  if (!c.api) throw new Error('a cluster component needs kube-apiserver, which is not started yet');
  return c.api;
}

const etcdUrl = (c: UpContext) => `http://127.0.0.1:${c.ports.etcdPort}`;

/** 1. etcd. */
const etcd: Component = {
  name: 'etcd',
  daemon: (c) => {
    const url = etcdUrl(c);
    const peer = `http://127.0.0.1:${c.ports.etcdPeer}`;
    return {
      command: c.tools.etcd,
      args: [
        '--name=local',
        `--data-dir=${join(c.dir, 'etcd')}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=local=${peer}`,
        '--listen-metrics-urls=',
        '--log-level=warn',
        '--quota-backend-bytes=1073741824',
      ],
      address: url,
      readiness: { kind: 'http', url: `${url}/health` },
    };
  },
};

/**
 * 2. kube-apiserver: a static admin token (group system:masters), RBAC,
 * a generated service-account signing key, a self-signed serving cert.
 */
const kubeApiserver: Component = {
  name: 'kube-apiserver',
  async before({ pki, token }) {
    await writeFile(join(pki, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await writeFile(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  },
  daemon: (c) => ({
    command: c.tools.kubeApiserver,
    args: [
      `--etcd-servers=${etcdUrl(c)}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${c.ports.apiPort}`,
      `--cert-dir=${join(c.pki, 'apiserver')}`,
      `--token-auth-file=${join(c.pki, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(c.pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(c.pki, 'sa.key')}`,
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
    address: c.server,
    readiness: { kind: 'http', url: `${c.server}/readyz`, token: c.token },
  }),
  async after(c, self) {
    const { server, token, kubeconfig } = c;
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server, 'certificate-authority': c.apiCert } }],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin' } }],
        'current-context': 'local',
      }),
      { mode: 0o600 },
    );
    // From here on the probe verifies the serving cert.
    const ca = await readFile(c.apiCert, 'utf8');
    self.probe = { kind: 'http', url: `${server}/readyz`, token, ca };
    await writeState(c.state);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    c.api = { kc, ca };
  },
};

/** 3. Controller manager and scheduler, as admin, serving /healthz on loopback. */
const componentAuth = ({ kubeconfig }: UpContext) => [
  `--kubeconfig=${kubeconfig}`,
  `--authentication-kubeconfig=${kubeconfig}`,
  `--authorization-kubeconfig=${kubeconfig}`,
  '--bind-address=127.0.0.1',
  '--leader-elect=false',
  '--profiling=false',
];

const kubeControllerManager: Component = {
  name: 'kube-controller-manager',
  daemon: (c) => ({
    command: c.tools.kubeControllerManager,
    args: [
      ...componentAuth(c),
      `--secure-port=${c.ports.cmPort}`,
      `--cert-dir=${join(c.pki, 'controller-manager')}`,
      `--service-account-private-key-file=${join(c.pki, 'sa.key')}`,
      `--root-ca-file=${c.apiCert}`,
      '--use-service-account-credentials=false',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--v=0',
    ],
    address: `https://127.0.0.1:${c.ports.cmPort}`,
    readiness: { kind: 'http', url: `https://127.0.0.1:${c.ports.cmPort}/healthz` },
  }),
};

const kubeScheduler: Component = {
  name: 'kube-scheduler',
  daemon: (c) => ({
    command: c.tools.kubeScheduler,
    args: [
      ...componentAuth(c),
      `--secure-port=${c.ports.schedPort}`,
      `--cert-dir=${join(c.pki, 'scheduler')}`,
      '--v=0',
    ],
    address: `https://127.0.0.1:${c.ports.schedPort}`,
    readiness: { kind: 'http', url: `https://127.0.0.1:${c.ports.schedPort}/healthz` },
  }),
};

/** 4. kwok: the kubelet of the nodes annotated kwok.x-k8s.io/node=fake; then the nodes. */
const kwok: Component = {
  name: 'kwok',
  daemon: ({ tools, kubeconfig, ports }) => ({
    command: tools.kwok,
    args: [
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
      `--server-address=127.0.0.1:${ports.kwokPort}`,
    ],
    address: `http://127.0.0.1:${ports.kwokPort}`,
    readiness: { kind: 'http', url: `http://127.0.0.1:${ports.kwokPort}/healthz` },
  }),
  async after(c) {
    const nodes = c.options.nodes ?? DEFAULT_NODES;
    c.log(`registering kwok nodes ${nodes.map((n) => n.name).join(', ')}`);
    await createKwokNodes(api(c).kc, nodes, c.timeout);
  },
};

/**
 * 4b. The resource metrics API of the kwok pods (tools/cluster/metrics-api.ts), which
 * HorizontalPodAutoscalers read, behind the aggregation layer. It serves with the
 * API server's own self-signed loopback certificate.
 */
const metricsApi: Component = {
  name: 'metrics-api',
  daemon: (c) => {
    const url = `https://127.0.0.1:${c.ports.metricsPort}`;
    return {
      command: process.execPath,
      args: [
        '--import',
        tsxLoaderUrl(),
        METRICS_API_SCRIPT,
        `--kubeconfig=${c.kubeconfig}`,
        `--cert=${c.apiCert}`,
        `--key=${join(c.pki, 'apiserver', 'apiserver.key')}`,
        `--port=${c.ports.metricsPort}`,
      ],
      address: url,
      readiness: { kind: 'http', url: `${url}/healthz`, ca: api(c).ca },
    };
  },
  async after(c) {
    c.log('registering the APIService v1beta1.metrics.k8s.io');
    await registerMetricsApi(api(c).kc, c.ports.metricsPort, c.timeout);
  },
};

/**
 * 5. Redis (Argo CD's cache), with a password as Argo CD's own install sets one.
 * The password goes in a 0600 config file, not on the command line (where `ps` shows it).
 */
const redisConf = (c: UpContext) => join(c.dir, 'redis', 'redis.conf');
const redis: Component = {
  name: 'redis',
  async before(c) {
    await mkdir(join(c.dir, 'redis'), { recursive: true, mode: 0o700 });
    await writeFile(
      redisConf(c),
      [
        'bind 127.0.0.1',
        `port ${c.ports.redisPort}`,
        `requirepass ${c.redisPassword}`,
        'save ""',
        'appendonly no',
        `dir ${join(c.dir, 'redis')}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  },
  daemon: (c) => ({
    command: c.tools.redisServer,
    args: [redisConf(c)],
    address: `127.0.0.1:${c.ports.redisPort}`,
    readiness: { kind: 'redis', port: c.ports.redisPort, password: c.redisPassword },
  }),
};

/** 6. The Git server. */
const gitServer: Component = {
  name: 'git-server',
  daemon: (c) => ({
    command: process.execPath,
    args: [
      '--import',
      tsxLoaderUrl(),
      GIT_SERVER_SCRIPT,
      `--repo-dir=${c.gitDir}`,
      `--name=${c.repoName}`,
      `--port=${c.ports.gitPort}`,
      ...(c.options.gitPush ? ['--allow-push'] : []),
    ],
    address: c.gitUrl,
    readiness: { kind: 'http', url: `http://127.0.0.1:${c.ports.gitPort}/healthz` },
  }),
};

/**
 * 6b. The object store: SeaweedFS's S3 API with a key pair made for this cluster, in a
 * 0600 identities file; the settings a process needs to use it, credentials included,
 * in a 0600 env file (docs/object-store.md); then the bucket the manifests name.
 */
const identitiesFile = (c: UpContext) => join(c.storeDir, 's3-identities.json');
const objectStore: Component = {
  name: 'object-store',
  async before(c) {
    await mkdir(join(c.storeDir, 'data'), { recursive: true, mode: 0o700 });
    const credentials = c.storeConfig.credentials as { accessKeyId: string; secretAccessKey: string };
    await writeS3Identities(identitiesFile(c), [
      { name: 'admin', ...credentials, actions: ['Admin', 'Read', 'List', 'Write', 'Tagging'] },
    ]);
    await writeFile(
      join(c.storeDir, 'object-store.env'),
      Object.entries(objectStoreEnv(c.storeConfig))
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
      { mode: 0o600 },
    );
  },
  daemon: (c) => ({
    command: c.tools.seaweedfs,
    args: seaweedfsArgs({
      dataDir: join(c.storeDir, 'data'),
      identitiesFile: identitiesFile(c),
      ports: c.storePorts,
    }),
    address: `${c.storeConfig.endpoint} (S3)`,
    readiness: { kind: 'http', url: `${c.storeConfig.endpoint}/healthz` },
    env: seaweedfsEnv(c.env),
  }),
  async after(c) {
    c.log(`creating bucket ${CLUSTER_BUCKET}`);
    const store = createObjectStore(c.storeConfig);
    try {
      await store.ensureBucket(CLUSTER_BUCKET);
    } finally {
      store.close();
    }
  },
};

/** 7. Argo CD: CRDs and configuration from its own manifests, then its controllers. */
const argoData = (c: UpContext) => join(c.dir, 'argocd');
const argoEnv = (c: UpContext, binary: string): NodeJS.ProcessEnv => ({
  ARGOCD_BINARY_NAME: binary,
  // The in-cluster destination (https://kubernetes.default.svc) is this
  // kubeconfig's cluster (Argo CD's own local-development switch).
  ARGOCD_FAKE_IN_CLUSTER: 'true',
  KUBECONFIG: c.kubeconfig,
  REDIS_PASSWORD: c.redisPassword,
  HOME: join(argoData(c), 'home'),
  TMPDIR: join(argoData(c), 'tmp'),
  ARGOCD_TLS_DATA_PATH: join(argoData(c), 'tls'),
  ARGOCD_SSH_DATA_PATH: join(argoData(c), 'ssh'),
  ARGOCD_GNUPGHOME: join(argoData(c), 'gpg', 'keys'),
  ARGOCD_GPG_DATA_PATH: join(argoData(c), 'gpg', 'source'),
  ARGOCD_GPG_ENABLED: 'false',
  // repo-server runs `kustomize` and `git` from PATH; ours first.
  PATH: `${c.tools.argocdBin}:${c.env.PATH ?? ''}`,
  GIT_CONFIG_NOSYSTEM: '1',
});
const argoCommon = (c: UpContext) => [
  `--kubeconfig=${c.kubeconfig}`,
  `--namespace=${c.ns}`,
  '--logformat=text',
  '--loglevel=info',
];
const argoRedis = (c: UpContext) => `--redis=127.0.0.1:${c.ports.redisPort}`;

const argocdRepoServer: Component = {
  name: 'argocd-repo-server',
  async before(c) {
    const { kc } = api(c);
    c.log(`installing Argo CD CRDs and configuration into namespace ${c.ns}`);
    await installArgoCd(kc, { crds: c.tools.argocdCrds, install: c.tools.argocdInstall }, c.ns, c.timeout);
    c.log("installing prometheus-operator's CRDs");
    await installCrds(kc, c.tools.prometheusOperatorCrds, c.timeout);
    for (const sub of ['tmp', 'home', 'tls', 'ssh', 'gpg/keys', 'gpg/source'])
      await mkdir(join(argoData(c), sub), { recursive: true, mode: 0o700 });
  },
  daemon: (c) => ({
    command: c.tools.argocd,
    args: [
      argoRedis(c),
      '--address=127.0.0.1',
      `--port=${c.ports.repoPort}`,
      '--metrics-address=127.0.0.1',
      `--metrics-port=${c.ports.repoMetrics}`,
      '--logformat=text',
      '--loglevel=info',
      '--parallelismlimit=2',
      // How long a resolved revision (HEAD → commit) is reused: as long as the
      // controller waits between two reads of Git (Argo CD's defaults: 3 min and
      // 2 min; a Git webhook, which this stack does not have, refreshes at once).
      `--revision-cache-expiration=${c.resync}s`,
    ],
    address: `127.0.0.1:${c.ports.repoPort}`,
    readiness: { kind: 'http', url: `http://127.0.0.1:${c.ports.repoMetrics}/healthz` },
    env: argoEnv(c, 'argocd-repo-server'),
  }),
};

const argocdApplicationController: Component = {
  name: 'argocd-application-controller',
  daemon: (c) => ({
    command: c.tools.argocd,
    args: [
      ...argoCommon(c),
      argoRedis(c),
      `--repo-server=127.0.0.1:${c.ports.repoPort}`,
      // Argo CD binds this port on every interface (controller/appcontroller.go); nothing else of it listens.
      `--metrics-port=${c.ports.appMetrics}`,
      `--app-resync=${c.resync}`,
      '--status-processors=4',
      '--operation-processors=2',
    ],
    address: `0.0.0.0:${c.ports.appMetrics} (metrics, health)`,
    readiness: { kind: 'http', url: `http://127.0.0.1:${c.ports.appMetrics}/healthz` },
    env: argoEnv(c, 'argocd-application-controller'),
  }),
};

const argocdApplicationsetController: Component = {
  name: 'argocd-applicationset-controller',
  daemon: (c) => ({
    command: c.tools.argocd,
    args: [
      ...argoCommon(c),
      `--argocd-repo-server=127.0.0.1:${c.ports.repoPort}`,
      `--metrics-addr=127.0.0.1:${c.ports.appsetMetrics}`,
      // Unused (see the probe below), but bound to loopback rather than its default :8081.
      `--probe-addr=127.0.0.1:${c.ports.appsetProbe}`,
      `--webhook-addr=127.0.0.1:${c.ports.appsetWebhook}`,
      '--enable-scm-providers=false',
    ],
    address: `127.0.0.1:${c.ports.appsetWebhook} (webhook)`,
    // It registers no health or ready checks on its probe address (its
    // Deployment has no probes either); its metrics answer once the manager runs.
    readiness: { kind: 'http', url: `http://127.0.0.1:${c.ports.appsetMetrics}/metrics` },
    env: argoEnv(c, 'argocd-applicationset-controller'),
  }),
};

/**
 * 8. Argo Rollouts (optional): its CRDs, then its controller, which watches every
 * namespace. POD_NAMESPACE is where it looks for its notification settings (none here).
 */
function rolloutsOf(c: UpContext): RolloutsTools {
  if (!c.rollouts) throw new Error('Argo Rollouts was not asked for (up --with rollouts)');
  return c.rollouts;
}
const argoRolloutsController: Component = {
  name: 'argo-rollouts-controller',
  enabled: (c) => c.rollouts !== undefined,
  async before(c) {
    const { kc } = api(c);
    c.log("installing Argo Rollouts' CRDs");
    await installCrds(kc, rolloutsOf(c).crds, c.timeout);
    await ensureNamespace(kc, ROLLOUTS_NAMESPACE);
  },
  daemon: (c) => {
    const { rolloutsMetrics, rolloutsHealthz } = c.ports;
    return {
      command: rolloutsOf(c).controller,
      args: [
        `--kubeconfig=${c.kubeconfig}`,
        // Argo Rollouts binds both on every interface (controller/controller.go listenAddr "0.0.0.0:%d").
        `--metricsport=${rolloutsMetrics}`,
        `--healthzPort=${rolloutsHealthz}`,
        '--leader-elect=false',
        '--logformat=text',
        '--loglevel=info',
      ],
      address: `0.0.0.0:${rolloutsMetrics} (metrics), :${rolloutsHealthz} (health)`,
      readiness: { kind: 'http', url: `http://127.0.0.1:${rolloutsHealthz}/healthz` },
      env: { POD_NAMESPACE: ROLLOUTS_NAMESPACE },
    };
  },
};

/** Every component, in the order `up` starts them (`down` stops them in reverse). */
export const COMPONENTS: readonly Component[] = [
  etcd,
  kubeApiserver,
  kubeControllerManager,
  kubeScheduler,
  kwok,
  metricsApi,
  redis,
  gitServer,
  objectStore,
  argocdRepoServer,
  argocdApplicationController,
  argocdApplicationsetController,
  argoRolloutsController,
];
