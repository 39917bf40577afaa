/**
 * cluster: the local Kubernetes + Argo CD stack on loopback, for people and
 * tests. See docs/cluster.md.
 *
 *   npm run cluster -- up [--dir .cache/cluster] [--repo .] [--allow-push] [--with rollouts]
 *   npm run cluster -- status [--dir ...]
 *   npm run cluster -- down [--dir ...]
 */
import { join } from 'node:path';
import { isMain, parseFlags, runMain } from '../platform/cli.ts';
import { ProjectError } from '../platform/errors.ts';
import {
  type ClusterState,
  type ComponentStatus,
  clusterDown,
  clusterStatus,
  clusterUp,
} from '../tools/cluster/index.ts';

const USAGE = `usage: cluster <up|status|down> [options]
  up       start etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
           kwok (a CPU node and a GPU-like node), Redis, a Git server serving
           --repo, the object store (SeaweedFS, S3 API, bucket gitops-ml),
           Argo CD's CRDs and its repo-server, application-controller
           and applicationset-controller, all on 127.0.0.1; print what runs where
  status   probe what \`up\` started: component, pid, address, healthy
  down     stop everything \`up\` started
options:
  --dir <dir>      state folder: pids, logs, kubeconfig (default .cache/cluster)
  --repo <dir>     repository the Git server serves (default: the current one)
  --name <name>    served at http://127.0.0.1:<port>/<name>.git (default repo)
  --allow-push     let the Git server accept git push
  --app-resync <s> how often Argo CD re-reads Git, seconds (default 120)
  --with rollouts  also run Argo Rollouts (its CRDs and controller), for
                   environments with manifests/components/canary`;

/** What `--with` can add to the stack. */
const OPTIONAL_COMPONENTS = ['rollouts'];

const FLAGS = {
  dir: { type: 'string', default: join('.cache', 'cluster') },
  repo: { type: 'string', default: '.' },
  name: { type: 'string', default: 'repo' },
  'allow-push': { type: 'boolean', default: false },
  'app-resync': { type: 'string', default: '120' },
  with: { type: 'string', multiple: true },
  help: { type: 'boolean', default: false },
} as const;

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
  const { values: f, positionals } = parseFlags(argv, FLAGS, USAGE);
  if (f.help) {
    log(USAGE);
    return 0;
  }
  const [verb, ...extra] = positionals;
  if (!verb || extra.length > 0 || !['up', 'down', 'status'].includes(verb))
    throw new ProjectError(
      'USAGE',
      `expected one of up, status, down${verb ? `, got "${positionals.join(' ')}"` : ''}\n\n${USAGE}`,
    );
  const resync = Number(f['app-resync']);
  if (!Number.isInteger(resync) || resync < 1)
    throw new ProjectError(
      'USAGE',
      `--app-resync must be a whole number of seconds, got "${f['app-resync']}"`,
    );

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
      repo: f.repo,
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

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
