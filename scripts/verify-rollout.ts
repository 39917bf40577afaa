/**
 * verify-rollout: wait until an environment runs its pinned model version
 * (Argo CD Application Synced+Healthy, Deployment rolled out, Ready pods at the
 * pin, /predict answering with it), or fail with what each check saw.
 * Then, with --soak, watch the SLO and drift alerts in Prometheus for that
 * long; with --revert-on-failure, a failed check or a firing alert reverts
 * the environment through Git (what npm run revert does). The work:
 * pipelines/promotion postVerify(). See docs/rollout.md.
 *
 *   npm run verify-rollout -- --env dev [--version 3] [--url http://...] [--timeout 5m]
 *   npm run verify-rollout -- --env dev --soak 10m --revert-on-failure
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { environmentsBesideLock } from '../gitops/index.ts';
import { readPinnedVersion } from '../lock/index.ts';
import { prometheusConfigFromEnv } from '../monitoring/prometheus-api.ts';
import {
  alertNamesOf,
  GATES_FILE,
  type PostVerifyOptions,
  postVerify,
  promotionContext,
  SOAK_RULE_FILES,
} from '../pipelines/promotion/index.ts';
import { loadCluster, makeSmokePng } from '../pipelines/verify/index.ts';
import {
  isMain,
  type ParsedCommand,
  parseCommand,
  parseDurationFlag,
  runMain,
  SHARED_FLAGS,
} from '../platform/cli.ts';
import type { Clock } from '../platform/clock.ts';
import { ProjectError } from '../platform/errors.ts';
import { logGroup } from '../platform/github/actions.ts';

const FLAGS = {
  env: { type: 'string', help: 'the environment to verify (a folder of environments/ beside --lock)' },
  version: {
    type: 'string',
    value: '<id>',
    help: "the expected model version (default: the environment's pin in --lock)",
  },
  model: SHARED_FLAGS.model,
  lock: SHARED_FLAGS.lock,
  revision: {
    type: 'string',
    value: '<sha>',
    help: 'the git revision the Argo CD Application must be synced to',
  },
  url: {
    type: 'string',
    value: '<base url>',
    help: 'the model server for the /predict smoke request (default: the Service, through the API server proxy)',
  },
  'smoke-image': {
    type: 'string',
    value: '<file>',
    help: 'a PNG/JPEG for the /predict smoke request (default: a generated 32x32 PNG)',
  },
  timeout: { type: 'string', default: '5m', value: '<duration>', help: 'give up after this long' },
  kubeconfig: SHARED_FLAGS.kubeconfig,
  context: SHARED_FLAGS.context,
  namespace: { type: 'string', value: '<ns>', help: 'the namespace (default: ml-<env>)' },
  'skip-application': {
    type: 'boolean',
    default: false,
    help: 'do not check an Argo CD Application (a cluster without Argo CD)',
  },
  soak: {
    type: 'string',
    default: '0',
    value: '<duration>',
    help: 'after the checks pass, watch Prometheus ($PROMETHEUS_URL, $PROMETHEUS_TOKEN) this long\nand fail as soon as an alert of --soak-rules fires in the namespace for this version (0: no soak)',
  },
  'soak-every': {
    type: 'string',
    default: '30s',
    value: '<duration>',
    help: 'time between two Prometheus queries',
  },
  'soak-rules': {
    type: 'string',
    value: '<files>',
    help: `comma-separated rule files whose alerts count (default: ${SOAK_RULE_FILES.join(',')})`,
  },
  'revert-on-failure': {
    type: 'boolean',
    default: false,
    help: "when a check times out or an alert fires: npm run revert (the version before, the failure\nas reason) with --commit --push, in the lock's repository",
  },
} as const;

/** The command: its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run verify-rollout --',
  summary: `Wait until an environment runs its pinned model version (Argo CD Application
Synced and Healthy, Deployment rolled out, Ready pods at the pin, /predict answering
with it), or fail with what each check saw; then optionally soak and revert
(docs/rollout.md).`,
  options: FLAGS,
  required: ['env'],
  choices: { env: environmentsBesideLock() },
  notes: `With $GITHUB_OUTPUT set, writes verified (true|false), revert (true when the failure is
the model's), version and reason; with $GITHUB_STEP_SUMMARY, the failure.`,
  exit: { 0: 'verified', 1: 'not verified (reverted or not)' },
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
  const cwd = deps.cwd ?? process.cwd();
  const cli = parseCommand(argv, COMMAND, console.log, cwd);
  if (!cli) return 0;
  const f = cli.values as typeof cli.values & { env: string };
  const timeoutMs = parseDurationFlag('timeout', f.timeout, { positive: true });
  const soak = await soakOf(f, env, cwd);
  const lockPath = resolve(cwd, f.lock);
  const pin = f.version
    ? { model: f.model, version: f.version }
    : await readPinnedVersion(lockPath, f.env, f.model);
  const smoke = await smokeImageOf(f['smoke-image']);
  const cluster = loadCluster({ kubeconfig: f.kubeconfig, context: f.context, env });
  const target = f.env;
  const result = await logGroup(
    env,
    `verify ${f.env}${soak ? ', soak' : ''}${f['revert-on-failure'] ? ', revert on failure' : ''}`,
    () =>
      postVerify(
        {
          rollout: {
            env: target,
            version: pin.version,
            model: pin.model,
            namespace: f.namespace,
            revision: f.revision,
            url: f.url,
            skipApplication: f['skip-application'],
            ...smoke,
            timeoutMs,
          },
          soak,
          revert: f['revert-on-failure'] ? revertContext(lockPath, env) : undefined,
          github: { output: env.GITHUB_OUTPUT, summary: env.GITHUB_STEP_SUMMARY },
        },
        { cluster, log: (text) => console.log(text), sleep: deps.sleep, now: deps.now, fetch: deps.fetch },
      ),
  );
  return result.verified ? 0 : 1;
}

type Flags = ParsedCommand<typeof FLAGS>['values'];

/** The soak the flags ask for (undefined for --soak 0); USAGE without PROMETHEUS_URL, NOT_FOUND for a rule file. */
async function soakOf(
  f: Flags,
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<PostVerifyOptions['soak']> {
  const durationMs = parseDurationFlag('soak', f.soak);
  const intervalMs = parseDurationFlag('soak-every', f['soak-every']);
  if (durationMs === 0) return undefined;
  const prometheus = prometheusConfigFromEnv(env);
  if (!prometheus)
    throw new ProjectError(
      'USAGE',
      '--soak needs PROMETHEUS_URL (the Prometheus that evaluates monitoring/rules)',
      {
        subject: 'PROMETHEUS_URL',
        hint: 'set PROMETHEUS_URL (and PROMETHEUS_TOKEN if it needs one), or pass --soak 0',
      },
    );
  const rules = f['soak-rules']?.split(',').filter(Boolean) ?? SOAK_RULE_FILES;
  const alertNames = await alertNamesOf(rules.map((p) => resolve(cwd, p)));
  return { prometheus, alertNames, durationMs, intervalMs };
}

/** The /predict smoke image: --smoke-image (PNG or JPEG), or a generated 32x32 PNG. */
async function smokeImageOf(path: string | undefined): Promise<{ image: Uint8Array; contentType: string }> {
  if (!path) return { image: makeSmokePng(), contentType: 'image/png' };
  const image = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    throw new ProjectError(
      'USAGE',
      `--smoke-image ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
      {
        subject: path,
        cause: e,
      },
    );
  });
  return { image, contentType: /\.jpe?g$/i.test(path) ? 'image/jpeg' : 'image/png' };
}

/**
 * The promotion context of a revert on failure: the lock's repository, its
 * environments/ and gates config, committed and pushed to origin (what
 * npm run revert -- --commit --push does there).
 */
function revertContext(lockPath: string, env: Record<string, string | undefined>) {
  const root = dirname(lockPath);
  return promotionContext({
    cwd: root,
    env,
    processEnv: process.env,
    lock: lockPath,
    environments: join(root, 'environments'),
    gates: join(root, GATES_FILE),
    commit: true,
    push: true,
    remote: 'origin',
    render: true,
    print: (t) => console.log(t.trimEnd()),
    now: () => new Date(),
  });
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
