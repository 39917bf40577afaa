/**
 * Test-only: a real Kubernetes API server (kube-apiserver + etcd) on loopback,
 * built and installed by scripts/setup.d/60-kubernetes.sh. No controllers,
 * scheduler or kubelet run: tests play their part by writing status
 * subresources themselves.
 *
 * A test file gates its tests with `needs(...kubeApiServerInstalled())`
 * (testing/services.ts): skipped with the reason outside CI, a failure
 * with CI=true; a server that does not start is a failure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { kubeBinary } from '../tools/cluster/tools.ts';
import { freePort } from './ports.ts';
import { findExecutable, type Requirement, requirement, tool } from './services.ts';

export { KUBE_VERSION } from '../tools/cluster/tools.ts';

const CACHED_BIN = kubeBinary('kube-apiserver');
const INSTALL_HINT =
  'run `bash scripts/setup.d/60-kubernetes.sh` (Debian etcd-server + kube-apiserver built from Go modules)';

export interface KubeApiServer {
  /** A kubeconfig (context `test`, admin token) for the server. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Bearer token of the admin user (group system:masters). */
  token: string;
  /** Temp folder with etcd data, certs, keys; removed by stop(). */
  dir: string;
  /** The last lines the two processes printed, for failure messages. */
  logs: () => string;
  stop: () => Promise<void>;
}

/** etcd and kube-apiserver, as tests need them: `needs(...kubeApiServerInstalled())`. */
export function kubeApiServerInstalled(): [etcd: Requirement, apiserver: Requirement] {
  return [
    tool('etcd', INSTALL_HINT),
    requirement(
      'kube-apiserver',
      findExecutable('kube-apiserver') ?? findExecutable(CACHED_BIN),
      INSTALL_HINT,
    ),
  ];
}

function startProcess(bin: string, args: string[], tail: string[], name: string): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) tail.push(`[${name}] ${line}`);
    }
    if (tail.length > 200) tail.splice(0, tail.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function waitUntil(
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
  died: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = died();
    if (dead) throw new Error(`${what}: ${dead}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Start etcd and kube-apiserver on free loopback ports with a temp data dir,
 * a self-signed serving cert, a static admin token (group system:masters),
 * AlwaysAllow authorization (or RBAC, to test what a Role allows) and a
 * generated service-account key; wait for /readyz; write a kubeconfig.
 * Throws when a binary is missing (gate the tests with
 * `needs(...kubeApiServerInstalled())`) or the server does not come up.
 */
export async function startKubeApiServer(
  options: { readyTimeoutMs?: number; authorization?: 'AlwaysAllow' | 'RBAC' } = {},
): Promise<KubeApiServer> {
  const [etcdTool, apiserverTool] = kubeApiServerInstalled();
  const bins = { etcd: etcdTool.path, apiserver: apiserverTool.path };
  const dir = await mkdtemp(join(tmpdir(), 'kube-apiserver-'));
  const tail: string[] = [];
  const procs: ChildProcess[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await stopProcess(p);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [clientPort, peerPort, securePort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const etcd = startProcess(
      bins.etcd,
      [
        '--name=test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=test=http://127.0.0.1:${peerPort}`,
        '--log-level=error',
        '--quota-backend-bytes=536870912',
      ],
      tail,
      'etcd',
    );
    procs.push(etcd);
    const exitNote = (p: ChildProcess, name: string) =>
      p.exitCode !== null || p.signalCode !== null
        ? `${name} exited (${p.exitCode ?? p.signalCode}):\n${tail.slice(-30).join('\n')}`
        : undefined;
    await waitUntil(
      `etcd on ${etcdUrl}`,
      30_000,
      async () => (await fetch(`${etcdUrl}/health`)).ok,
      () => exitNote(etcd, 'etcd'),
    );

    const token = randomBytes(24).toString('hex');
    await writeFile(join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await writeFile(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const server = `https://127.0.0.1:${securePort}`;
    const apiserver = startProcess(
      bins.apiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${securePort}`,
        `--cert-dir=${join(dir, 'certs')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        `--authorization-mode=${options.authorization ?? 'AlwaysAllow'}`,
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        '--v=0',
      ],
      tail,
      'kube-apiserver',
    );
    procs.push(apiserver);
    await waitUntil(
      `kube-apiserver on ${server}`,
      options.readyTimeoutMs ?? 120_000,
      () => httpsGetOk(`${server}/readyz`, token),
      () => exitNote(apiserver, 'kube-apiserver') ?? exitNote(etcd, 'etcd'),
    );

    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfigPath,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'test', cluster: { server, 'certificate-authority': join(dir, 'certs', 'apiserver.crt') } },
        ],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin' } }],
        'current-context': 'test',
      }),
      { mode: 0o600 },
    );
    return { kubeconfigPath, server, token, dir, logs: () => tail.slice(-40).join('\n'), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function httpsGetOk(url: string, token: string): Promise<boolean> {
  const { request } = await import('node:https');
  return new Promise((resolve) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 5000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Create a namespace and its `default` ServiceAccount (the ServiceAccount
 * admission plugin needs it before any pod is created; a controller-manager
 * would make it). Idempotent.
 */
export async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const ignoreExists = (e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  };
  await core.createNamespace({ body: { metadata: { name } } }).catch(ignoreExists);
  await core
    .createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'default' } } })
    .catch(ignoreExists);
}
