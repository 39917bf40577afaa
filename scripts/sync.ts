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
  SHARED_FLAGS,
  scriptDeps,
} from '../platform/cli.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run sync --',
  summary: `Ask Argo CD to sync an environment's Application and wait for the result, as
\`argocd app sync model-server-<env>\` does, through the Kubernetes API (docs/rollout.md).`,
  required: ['env'],
  options: {
    env: { type: 'string', help: 'the environment whose Application (model-server-<env>) to sync' },
    application: {
      type: 'string',
      value: '<name>',
      help: 'the Application instead (default: model-server-<env>)',
    },
    revision: {
      type: 'string',
      value: '<sha>',
      help: "a full commit sha to sync to (default: the Application's target revision, resolved now;\nCI's rollout-verifier may not choose one: manifests/ci-access/sync-only-policy.yaml)",
    },
    prune: {
      type: 'boolean',
      default: false,
      help: 'delete what Git no longer has (by default not, as argocd app sync)',
    },
    timeout: { type: 'string', default: '5m', value: '<duration>', help: 'how long to wait for the result' },
    kubeconfig: SHARED_FLAGS.kubeconfig,
    context: SHARED_FLAGS.context,
    namespace: { type: 'string', default: 'argocd', value: '<ns>', help: "Argo CD's namespace" },
  },
  exit: { 0: 'the sync succeeded', 1: 'it failed, did not end in time, or another operation runs' },
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
