/**
 * verify-rollout: wait until an environment runs its pinned model version
 * (Argo CD Application Synced+Healthy, Deployment rolled out, Ready pods at the
 * pin, /predict answering with it), or fail with what each check saw.
 * Then, with --soak, watch the SLO and drift alerts in Prometheus for that
 * long; with --revert-on-failure, a failed check or a firing alert reverts
 * the environment through Git (scripts/revert.ts). See docs/rollout.md.
 *
 *   npm run verify-rollout -- --env dev [--version 3] [--url http://...] [--timeout 300]
 *   npm run verify-rollout -- --env dev --soak 10m --revert-on-failure
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { prometheusConfigFromEnv } from '../monitoring/prometheus-api.ts';
import {
  alertNamesOf,
  GATES_FILE,
  revertReasonOf,
  SOAK_RULE_FILES,
  soak,
} from '../pipelines/promotion/index.ts';
import { loadCluster, makeSmokePng, readPinnedVersion, verifyRollout } from '../pipelines/verify/index.ts';
import { isMain, parseCommand, parseDurationFlag, runMain } from '../platform/cli.ts';
import type { Clock } from '../platform/clock.ts';
import { ProjectError } from '../platform/errors.ts';
import { appendJobSummary, setOutputs } from '../platform/github/summary.ts';
import { main as revertMain } from './revert.ts';

const USAGE = `usage: verify-rollout --env <dev|staging|prod> [options]
  --version <v>        expected model version (default: the env's pin in --lock)
  --model <name>       model in the lock file (default: its only model)
  --lock <file>        lock file (default models.lock.json)
  --revision <sha>     git revision the Argo CD Application must be synced to
  --url <base>         model server base URL for /predict (default: the Service via the API server proxy)
  --image <file>       PNG/JPEG for the /predict smoke request (default: a generated 32x32 PNG)
  --timeout <seconds>  give up after this long (default 300)
  --kubeconfig <file>  kubeconfig (default $KUBECONFIG or ~/.kube/config)
  --context <name>     kubeconfig context
  --namespace <ns>     default ml-<env>
  --skip-application   do not check an Argo CD Application (cluster without Argo CD)
  --soak <duration>    after the checks pass, watch Prometheus ($PROMETHEUS_URL, $PROMETHEUS_TOKEN) this long
                       (e.g. 10m; default 0: no soak) and fail as soon as an alert of --soak-rules fires
                       in the environment's namespace for this version
  --soak-every <d>     time between two Prometheus queries (default 30s)
  --soak-rules <files> comma-separated rule files whose alerts count (default ${SOAK_RULE_FILES.join(',')})
  --revert-on-failure  when a check times out or an alert fires: npm run revert (the version before,
                       the failure as reason) with --commit --push, in the lock's repository
With $GITHUB_OUTPUT set, writes verified (true|false), revert (true when the failure is the model's),
version and reason; with $GITHUB_STEP_SUMMARY, the failure. Exit 0 verified, 1 not (reverted or not), 2 bad flags.`;

const FLAGS = {
  env: { type: 'string' },
  version: { type: 'string' },
  model: { type: 'string' },
  lock: { type: 'string', default: 'models.lock.json' },
  revision: { type: 'string' },
  url: { type: 'string' },
  image: { type: 'string' },
  timeout: { type: 'string', default: '300' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string' },
  'skip-application': { type: 'boolean', default: false },
  soak: { type: 'string', default: '0' },
  'soak-every': { type: 'string', default: '30s' },
  'soak-rules': { type: 'string' },
  'revert-on-failure': { type: 'boolean', default: false },
} as const;

/** Side effects beyond the environment, replaceable in tests. */
export interface VerifyRolloutScriptDeps extends Partial<Clock> {
  fetch?: typeof fetch;
  /** Where relative paths (--soak-rules) are resolved (default process.cwd()). */
  cwd?: string;
}

/** Run with `argv` (flags only); returns the exit code. Exported for tests. */
export async function main(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  deps: VerifyRolloutScriptDeps = {},
): Promise<number> {
  const cli = parseCommand(argv, { usage: USAGE, options: FLAGS }, console.log);
  if (!cli) return 0;
  const f = cli.values;
  if (!f.env || !/^[a-z0-9-]+$/.test(f.env))
    throw new ProjectError('USAGE', `--env is required (dev, staging, prod)\n\n${USAGE}`);
  const timeout = Number(f.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new ProjectError('USAGE', `--timeout must be a positive number of seconds, got "${f.timeout}"`);
  const soakMs = parseDurationFlag('soak', f.soak);
  const soakEveryMs = parseDurationFlag('soak-every', f['soak-every']);
  const cwd = deps.cwd ?? process.cwd();
  const prometheus = soakMs > 0 ? prometheusConfigFromEnv(env) : undefined;
  if (soakMs > 0 && !prometheus)
    throw new ProjectError(
      'USAGE',
      '--soak needs PROMETHEUS_URL (the Prometheus that evaluates monitoring/rules)',
      {
        subject: 'PROMETHEUS_URL',
        hint: 'set PROMETHEUS_URL (and PROMETHEUS_TOKEN if it needs one), or pass --soak 0',
      },
    );
  const alertNames =
    soakMs > 0
      ? await alertNamesOf(
          (f['soak-rules']?.split(',').filter(Boolean) ?? SOAK_RULE_FILES).map((p) => resolve(cwd, p)),
        )
      : [];
  const pin = f.version
    ? { model: f.model, version: f.version }
    : await readPinnedVersion(resolve(cwd, f.lock), f.env, f.model);
  let image: Uint8Array = makeSmokePng();
  let contentType = 'image/png';
  if (f.image) {
    image = await readFile(f.image).catch((e: NodeJS.ErrnoException) => {
      throw new ProjectError(
        'USAGE',
        `--image ${f.image}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
        { subject: f.image, cause: e },
      );
    });
    contentType = /\.jpe?g$/i.test(f.image) ? 'image/jpeg' : 'image/png';
  }
  const cluster = loadCluster({ kubeconfig: f.kubeconfig, context: f.context, env });
  console.log(
    `verifying ${pin.model ?? 'model'} version ${pin.version} in ${f.env} on ${cluster.server} (timeout ${timeout}s)`,
  );
  let reason: string | undefined;
  const report = await verifyRollout(
    {
      env: f.env,
      version: pin.version,
      model: pin.model,
      namespace: f.namespace,
      revision: f.revision,
      url: f.url,
      skipApplication: f['skip-application'],
      image,
      contentType,
      timeoutMs: timeout * 1000,
    },
    { cluster, log: (lines) => console.log(`--\n${lines}`), ...clockOf(deps) },
  ).catch((error: unknown) => {
    // A check that timed out is the model's failure; a cluster that does not answer is not (rethrown).
    reason = revertReasonOf({ error });
    if (!reason) throw error;
    return undefined;
  });
  if (report) {
    console.log(
      `rollout verified: ${f.env} serves version ${report.version} (${Math.round(report.elapsedMs / 1000)}s)`,
    );
  }
  if (report && soakMs > 0 && prometheus) {
    const soaked = await soak(
      {
        prometheus,
        env: f.env,
        version: pin.version,
        ...(f.namespace ? { namespace: f.namespace } : {}),
        alertNames,
        durationMs: soakMs,
        intervalMs: soakEveryMs,
      },
      { log: (l) => console.log(l), ...clockOf(deps), ...(deps.fetch ? { fetch: deps.fetch } : {}) },
    );
    reason = revertReasonOf({ soak: soaked });
  }
  const outputs = {
    verified: String(reason === undefined),
    revert: String(reason !== undefined),
    version: pin.version,
    reason: reason ?? '',
  };
  if (env.GITHUB_OUTPUT) await setOutputs(env.GITHUB_OUTPUT, outputs);
  if (reason === undefined) return 0;

  console.log(`post-promotion verification of version ${pin.version} in ${f.env} failed:\n${reason}`);
  if (env.GITHUB_STEP_SUMMARY) {
    await appendJobSummary(
      env.GITHUB_STEP_SUMMARY,
      `## Verification of ${pin.model ?? 'the model'} version ${pin.version} in ${f.env} failed\n\n\`\`\`\n${reason.replaceAll('```', "'''")}\n\`\`\`\n\n${f['revert-on-failure'] ? 'Reverting through Git (below).' : 'The revert job pins the version before.'}\n`,
    );
  }
  if (f['revert-on-failure']) {
    const lockPath = resolve(cwd, f.lock);
    const root = dirname(lockPath);
    const code = await revertMain(
      [
        '--env',
        f.env,
        '--version',
        pin.version,
        '--reason',
        reason,
        ...(pin.model ? ['--model', pin.model] : []),
        '--lock',
        lockPath,
        '--environments',
        join(root, 'environments'),
        '--gates',
        join(root, GATES_FILE),
        '--commit',
        '--push',
      ],
      { cwd: root, env, print: (t) => console.log(t.trimEnd()) },
    );
    if (code !== 0) return code;
  }
  return 1;
}

/** The clock fields of `deps` that are set. */
function clockOf(deps: VerifyRolloutScriptDeps): Partial<Clock> {
  return { ...(deps.sleep ? { sleep: deps.sleep } : {}), ...(deps.now ? { now: deps.now } : {}) };
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
