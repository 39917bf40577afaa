/**
 * cluster: the local Kubernetes + Argo CD stack on loopback, for people and
 * tests. See docs/cluster.md.
 *
 *   npm run cluster -- up [--dir .cache/cluster] [--repo-dir .] [--allow-push] [--with rollouts]
 *   npm run cluster -- status [--dir ...]
 *   npm run cluster -- down [--dir ...]
 *   npm run cluster -- argocd [--repo-dir .]
 *   npm run cluster -- image
 *   npm run cluster -- serve --env dev [--port 8080] [--detach]
 */
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { environmentChoices } from '../gitops/index.ts';
import {
  checkChoice,
  didYouMean,
  isMain,
  parseCommand,
  parseDurationFlag,
  parsePortFlag,
  runMain,
  usageError,
  usageOf,
} from '../platform/cli.ts';
import { ProjectError } from '../platform/errors.ts';
import { applyArgoCd } from '../tools/cluster/argocd-apply.ts';
import {
  type ClusterState,
  type ComponentStatus,
  clusterDown,
  clusterStatus,
  clusterUp,
} from '../tools/cluster/index.ts';
import { servedPodName, servePod } from '../tools/cluster/serve-pod.ts';
import { readState } from '../tools/cluster/state.ts';
import { ensureImages, imageDigestRef, requireBaseImage } from '../tools/containers/images.ts';
import { containerLogs, containerRunning, removeContainer } from '../tools/containers/pod.ts';
import { preparePodman } from '../tools/containers/podman.ts';

const VERBS = ['up', 'status', 'down', 'argocd', 'image', 'serve'];

/** What `--with` can add to the stack. */
const OPTIONAL_COMPONENTS = ['rollouts'];

/** The command: its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run cluster --',
  summary: 'A local Kubernetes with Argo CD on 127.0.0.1, for the journey on one machine (docs/cluster.md).',
  args: '<up|status|down|argocd|image|serve>',
  commands: {
    up: `start etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (a CPU node
and a GPU-like node), Redis, a Git server serving --repo, the object store (SeaweedFS,
S3 API, bucket gitops-ml), Argo CD's CRDs and its repo-server, application-controller
and applicationset-controller, all on 127.0.0.1; print what runs where`,
    status: 'probe what `up` started: component, pid, address, healthy',
    down: 'stop everything `up` started',
    argocd: `apply manifests/argocd and manifests/ci-access of --repo (README step 4), the
Applications reading from the local Git server`,
    image: `build the model server's image (serving/Dockerfile, target runtime) from this checkout
with podman, once per content; print the digest reference to promote with
(npm run promote -- --image <ref>)`,
    serve: `run the model server of --env as its synced pod would (kwok runs no container): the
image and pod template of Deployment ml-<env>/model-server, with podman, on
127.0.0.1:--port; print the curl to send it; Ctrl-C stops it`,
  },
  positionals: [0, 2],
  options: {
    dir: {
      type: 'string',
      default: join('.cache', 'cluster'),
      value: '<dir>',
      help: 'the state folder: pids, logs, kubeconfig',
    },
    'repo-dir': {
      type: 'string',
      default: '.',
      value: '<dir>',
      help: 'the repository the Git server serves',
    },
    name: { type: 'string', default: 'repo', help: 'served at http://127.0.0.1:<port>/<name>.git' },
    'allow-push': { type: 'boolean', default: false, help: 'let the Git server accept git push' },
    'app-resync': {
      type: 'string',
      default: '2m',
      value: '<duration>',
      help: 'how often Argo CD re-reads Git',
    },
    with: {
      type: 'string',
      multiple: true,
      value: '<component>',
      help: `also run: ${OPTIONAL_COMPONENTS.join(', ')} (Argo Rollouts, its CRDs and controller, for environments\nwith manifests/components/canary)`,
    },
    env: { type: 'string', help: 'serve: the environment (a folder of environments/)' },
    port: { type: 'string', help: 'serve: the port on 127.0.0.1 (default: a free one)' },
    detach: { type: 'boolean', default: false, help: 'serve: leave the container running and return' },
    stop: {
      type: 'boolean',
      default: false,
      help: 'serve: stop the container a detached serve left running',
    },
  },
} as const;
const USAGE = usageOf(COMMAND);

/** The status table: one row per component, fixed columns. */
export function formatStatus(components: ComponentStatus[]): string {
  const rows = [
    ['COMPONENT', 'PID', 'ADDRESS', 'HEALTHY'],
    ...components.map((c) => [
      c.name,
      String(c.pid),
      c.address,
      c.healthy ? 'yes' : c.running ? 'NO' : 'STOPPED',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function summary(state: ClusterState): string {
  return [
    `kubeconfig: ${state.kubeconfig}   (export KUBECONFIG=${state.kubeconfig})`,
    `git:        ${state.git.url}   (serves ${state.git.gitDir})`,
    ...(state.objectStore
      ? [
          `objects:    ${state.objectStore.endpoint}   (S3, bucket ${state.objectStore.bucket}; its settings and key: set -a; . ${state.objectStore.envFile}; set +a)`,
        ]
      : []),
    `argo cd:    namespace ${state.argocdNamespace}`,
    ...(state.components.some((c) => c.name === 'argo-rollouts-controller')
      ? ['rollouts:   Argo Rollouts controller (kubectl get rollouts,analysisruns -A)']
      : []),
    `logs:       ${join(state.dir, 'logs')}`,
  ].join('\n');
}

/** Run with `argv`; returns the exit code. Exported for tests. */
export async function main(argv: string[], log: (line: string) => void = console.log): Promise<number> {
  const cli = parseCommand(argv, COMMAND, log);
  if (!cli) return 0;
  const { values: f, positionals } = cli;
  const [verb, ...extra] = positionals;
  if (!verb || extra.length > 0 || !VERBS.includes(verb))
    throw new ProjectError(
      'USAGE',
      `expected one of ${VERBS.join(', ')}${verb ? `, got "${positionals.join(' ')}"${didYouMean(verb, VERBS)}` : ''}\n\n${USAGE}`,
    );
  if (verb === 'image') return buildServerImage(log);
  if (verb === 'argocd') return applyArgoCdHere(f, log);
  if (verb === 'serve') return serve(f, log);
  const resync = parseDurationFlag('app-resync', f['app-resync'], { positive: true }) / 1000;
  if (!Number.isInteger(resync))
    throw new ProjectError('USAGE', `--app-resync must be whole seconds, got "${f['app-resync']}"`);

  const optional = (f.with ?? []).flatMap((w) => w.split(','));
  const unknown = optional.filter((w) => !OPTIONAL_COMPONENTS.includes(w));
  if (unknown.length > 0)
    throw new ProjectError(
      'USAGE',
      `--with ${unknown.join(',')}: unknown component; one of ${OPTIONAL_COMPONENTS.join(', ')}`,
    );

  if (verb === 'up') {
    const started = Date.now();
    const state = await clusterUp({
      dir: f.dir,
      repo: f['repo-dir'],
      repoName: f.name,
      gitPush: f['allow-push'],
      appResyncSeconds: resync,
      rollouts: optional.includes('rollouts'),
      log: (line) => log(`  ${line}`),
    });
    const status = await clusterStatus(state.dir);
    log(`cluster up in ${Math.round((Date.now() - started) / 1000)}s\n`);
    log(formatStatus(status?.components ?? []));
    log(`\n${summary(state)}`);
    return 0;
  }
  if (verb === 'status') {
    const status = await clusterStatus(f.dir);
    if (!status) {
      log(`no cluster started from ${f.dir} (npm run cluster -- up)`);
      return 1;
    }
    log(formatStatus(status.components));
    log(`\n${summary(status.state)}`);
    return status.components.every((c) => c.healthy) ? 0 : 1;
  }
  const { stopped, found } = await clusterDown(f.dir);
  log(
    found
      ? `stopped ${stopped.length ? stopped.join(', ') : 'nothing (all had exited)'}`
      : `no cluster started from ${f.dir}`,
  );
  return 0;
}

/** The state of the cluster started from `dir`, or NOT_FOUND saying how to start one. */
async function startedCluster(dir: string): Promise<ClusterState> {
  const state = await readState(dir);
  if (!state)
    throw new ProjectError('NOT_FOUND', `no cluster started from ${dir}`, { hint: 'npm run cluster -- up' });
  return state;
}

/** `argocd`: README step 4 on the local cluster. */
async function applyArgoCdHere(
  f: { dir: string; 'repo-dir': string },
  log: (line: string) => void,
): Promise<number> {
  const state = await startedCluster(f.dir);
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  for (const { folder, objects } of await applyArgoCd(kc, f['repo-dir'], state.git.url))
    log(`applied ${folder}: ${objects.length} objects (${objects.join(', ')})`);
  log(`Argo CD reads ${state.git.url}; kubectl -n ${state.argocdNamespace} get applications`);
  return 0;
}

/** `image`: the runtime image of this checkout, built once per content; prints the reference to promote with. */
async function buildServerImage(log: (line: string) => void): Promise<number> {
  const p = await preparePodman();
  await requireBaseImage(p);
  const { runtime } = await ensureImages(p, ['runtime'], (line) => log(`  ${line}`));
  const ref = await imageDigestRef(p, runtime.ref);
  log(`${runtime.built ? 'built' : 'found'} ${runtime.ref}: the model server of this checkout`);
  log(`digest reference: ${ref}`);
  log(`promote with it: npm run promote -- --env dev --image ${ref} --commit`);
  return 0;
}

/** `serve`: the model server of --env as its synced pod would run it, until Ctrl-C (or left running with --detach). */
async function serve(
  f: { dir: string; env?: string; port?: string; detach: boolean; stop: boolean },
  log: (line: string) => void,
): Promise<number> {
  const known = environmentChoices()({}, process.cwd());
  if (!f.env) throw usageError(`serve needs --env, one of ${known.values.join(', ')}`, USAGE);
  checkChoice('env', f.env, known, USAGE);
  const port = f.port === undefined ? undefined : parsePortFlag(f.port) || undefined; // 0: a free one
  const p = await preparePodman();
  if (f.stop) {
    const name = servedPodName(f.env);
    const running = await containerRunning(p, name);
    await removeContainer(p, name);
    log(running ? `stopped ${name}` : `${name} was not running`);
    return 0;
  }
  const state = await startedCluster(f.dir);
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const served = await servePod({
    kc,
    podman: p,
    env: f.env,
    dir: join(state.dir, 'pods', f.env),
    ...(port ? { port } : {}),
    log,
  });
  log(
    `${f.env} serves ${served.env.SERVING_MODEL_NAME} ${served.env.SERVING_MODEL_VERSION} from ${served.image} (container ${served.name}) at ${served.url}`,
  );
  log(`curl -s -F image=@cat.png ${served.url}/predict`);
  if (f.detach) {
    log(`npm run cluster -- serve --env ${f.env} --stop   # stops it`);
    return 0;
  }
  log('Ctrl-C stops it');
  // Until a signal, or until the container stops by itself (then with its logs, exit 1).
  const ended = await new Promise<'signal' | 'stopped'>((resolve) => {
    const timer = setInterval(() => {
      void containerRunning(p, served.name).then((up) => {
        if (!up) resolve('stopped');
      });
    }, 5000);
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => {
        clearInterval(timer);
        resolve('signal');
      });
  });
  if (ended === 'stopped') log(`the container stopped:\n${await containerLogs(p, served.name)}`);
  await served.stop();
  return ended === 'stopped' ? 1 : 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
