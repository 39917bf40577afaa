/**
 * sync: ask Argo CD to sync an environment's Application and wait for the
 * result, as `argocd app sync model-server-<env>` does, through the
 * Kubernetes API (no argocd-server needed). prod has no automated sync:
 * verify.yml runs this after the GitHub "prod" environment approved the
 * promotion. See docs/gitops.md and pipelines/verify/sync.ts.
 *
 *   npm run sync -- --env prod [--revision <sha>] [--prune] [--timeout 5m]
 */

import { environmentChoices } from '../gitops/index.ts';
import { promotionEnvFrom } from '../pipelines/promotion/index.ts';
import { loadCluster, syncApplication } from '../pipelines/verify/index.ts';
import {
  isMain,
  parseCommand,
  parseDurationFlag,
  runMain,
  type ScriptDeps,
  scriptDeps,
} from '../platform/cli.ts';

const COMMAND = {
  usage: `usage: npm run sync -- --env <dev|staging|prod> [options]
  --env <env>          environment whose Application (model-server-<env>) to sync
  --application <name> the Application instead (default model-server-<env>)
  --revision <sha>     a full commit sha to sync to (default: the Application's target revision, resolved now;
                       CI's rollout-verifier may not choose one: manifests/ci-access/sync-only-policy.yaml)
  --prune              delete what Git no longer has (default: no, as argocd app sync)
  --timeout <duration> how long to wait for the result, e.g. 90s or 5m (default 5m)
  --kubeconfig <file>  kubeconfig (default $KUBECONFIG or ~/.kube/config)
  --context <name>     kubeconfig context
  --namespace <ns>     Argo CD's namespace (default argocd)
Exit 0: the sync succeeded; 1: it failed, did not end in time, or another operation runs; 2: bad usage.`,
  required: ['env'],
  options: {
    env: { type: 'string' },
    application: { type: 'string' },
    revision: { type: 'string' },
    prune: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '5m' },
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string', default: 'argocd' },
  },
  choices: { env: environmentChoices() },
} as const;

/** Run with `argv`; returns the exit code. Exported for tests. */
export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, (t) => d.print(`${t}\n`), d.cwd);
  if (!cli) return 0;
  const f = cli.values;
  const timeoutMs = parseDurationFlag('timeout', f.timeout, { positive: true });
  const by = promotionEnvFrom(d.env).by ?? 'npm run sync';
  const cluster = loadCluster({ kubeconfig: f.kubeconfig, context: f.context, env: d.env });
  const application = f.application ?? `model-server-${f.env}`;
  const result = await syncApplication(
    {
      application,
      namespace: f.namespace,
      revision: f.revision,
      prune: f.prune,
      initiatedBy: by,
      timeoutMs,
    },
    { cluster, log: (line) => d.print(`${line}\n`) },
  );
  d.print(
    `synced ${application}${result.revision ? ` to ${result.revision.slice(0, 12)}` : ''} in ${Math.round(result.elapsedMs / 1000)}s: ${result.message}\n`,
  );
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
