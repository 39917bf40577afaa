/**
 * Continuous training (drift.yml runs it as `npm run retrain`, on a
 * schedule, or on a workflow_dispatch: by hand, or from the alert relay when
 * a drift alert fires, with the alerts as its `reason` input).
 *
 *   npm run retrain -- [--if-drift] [--config training/configs/demo.json] [--data <new data dir>]
 *                      [--base main] [--lock models.lock.json] [--env prod] [--gates <file>]
 *                      [--data-from-feedback [--feedback-since <date>]]   (--help: what each means)
 *
 * Thin: flags → platform/github retrain (branch, train + lock, compare with prod
 * under the promotion gates, PR labelled "retrain" when better) → print.
 * Not better: prints why, exit 0, no PR. See docs/ci-training.md.
 */

import { readFileSync } from 'node:fs';
import { environmentsBesideLock } from '../gitops/index.ts';
import { prometheusConfigFromEnv } from '../monitoring/prometheus-api.ts';
import { type RetrainResult, retrain, retrainIfDrift, TRAINING_FLAGS } from '../pipelines/training/index.ts';
import { logGroup } from '../platform/github/actions.ts';
import { command, isMain, ProjectError, runMain, usageError, usageOf } from '../platform/index.ts';
import { loadTrainingConfig } from '../training/index.ts';

/** Why the run started, from the Actions event: the schedule, or the reason a workflow_dispatch gave (the alert relay names the drift alerts). */
export function reasonFromEvent(
  env: Record<string, string | undefined>,
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
): string | undefined {
  const name = env.GITHUB_EVENT_NAME;
  if (!name) return undefined;
  if (name !== 'workflow_dispatch' || !env.GITHUB_EVENT_PATH) return `the ${name} event`;
  try {
    const ev = JSON.parse(readFile(env.GITHUB_EVENT_PATH)) as { inputs?: { reason?: unknown } };
    const reason = typeof ev.inputs?.reason === 'string' ? ev.inputs.reason.trim() : '';
    return reason ? `the workflow_dispatch event: ${reason}` : 'the workflow_dispatch event';
  } catch {
    return 'the workflow_dispatch event';
  }
}

export interface MainDeps {
  env?: Record<string, string | undefined>;
  cwd?: string;
  now?: () => Date;
  print?: (line: string) => void;
  log?: (line: string) => void;
  fetch?: typeof fetch;
}

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run retrain --',
  summary: `Continuous training (drift.yml): on a branch from --base, train the model again
and add it to the lock, compare it with the version --env pins under the
promotion gates, and open a pull request labelled "retrain" when it is better.
Not better: it prints why, and opens no pull request (docs/ci-training.md).`,
  options: {
    ...TRAINING_FLAGS,
    data: { ...TRAINING_FLAGS.data, help: "the new data folder; overrides the config's data.path" },
    out: { ...TRAINING_FLAGS.out, help: 'the artifact folder (default: artifacts/<config name>-retrain)' },
    base: {
      type: 'string',
      default: 'main',
      value: '<branch>',
      help: 'the base branch to branch from and open the pull request to',
    },
    env: {
      type: 'string',
      default: 'prod',
      value: '<env>',
      help: 'the environment whose pinned version the candidate is compared with',
    },
    gates: {
      type: 'string',
      value: '<file>',
      help: "the promotion gates (default: environments/promotion-gates.json; without it:\naccuracy >= --env's)",
    },
    'if-drift': {
      type: 'boolean',
      default: false,
      help: 'retrain only when a drift alert fires in Prometheus (PROMETHEUS_URL, optional\nPROMETHEUS_TOKEN): the scheduled run; a workflow_dispatch from the alert relay\nretrains at once',
    },
    'data-from-feedback': {
      type: 'boolean',
      default: false,
      help: "first build the next dataset from the config's data pointer + the labelled\ncaptured images in the object store (OBJECT_STORE_*, AWS_*; npm run data --\nfrom-feedback) and train on it: the pull request changes the pointer",
    },
    'feedback-since': {
      type: 'string',
      value: '<date>',
      help: 'with --data-from-feedback: only the labels recorded since this date (e.g. 2026-03-01)',
    },
  },
  choices: { env: environmentsBesideLock() },
  notes: `Needs GITHUB_REPOSITORY and GITHUB_TOKEN (contents: write, pull-requests: write).
Prints the report, then the pull request or why there is none.`,
  exit: { 0: 'retrained (a pull request when better), or no drift alert firing with --if-drift' },
} as const;

/** Its usage, ending a usage error. */
const usage = () => usageOf(COMMAND);

export const main = command(COMMAND, async (cli, deps: MainDeps = {}) => {
  const print = deps.print ?? console.log;
  const { values } = cli;
  const env = deps.env ?? process.env;
  let since: Date | undefined;
  if (values['feedback-since'] !== undefined) {
    if (!values['data-from-feedback'])
      throw usageError('--feedback-since needs --data-from-feedback', usage());
    since = new Date(values['feedback-since']);
    if (Number.isNaN(since.getTime())) {
      throw usageError(
        `--feedback-since "${values['feedback-since']}" is not a date (e.g. 2026-03-01)`,
        usage(),
      );
    }
  }
  const options = {
    config: await loadTrainingConfig(values.config),
    configPath: values.config,
    env,
    cwd: deps.cwd ?? process.cwd(),
    lockPath: values.lock,
    base: values.base,
    dataPath: values.data,
    outDir: values.out,
    modelName: values.model,
    compareEnv: values.env,
    gatesPath: values.gates,
    ...(values['data-from-feedback'] ? { dataFromFeedback: since ? { since } : true } : {}),
    reason: reasonFromEvent(env),
    now: deps.now,
    log: deps.log,
  };
  let result: RetrainResult;
  if (values['if-drift']) {
    const prometheus = prometheusConfigFromEnv(env);
    if (!prometheus) {
      throw new ProjectError(
        'USAGE',
        '--if-drift needs PROMETHEUS_URL: the Prometheus whose drift alerts decide',
        {
          subject: 'PROMETHEUS_URL',
          hint: 'set the repository variable PROMETHEUS_URL (drift.yml passes it), or run without --if-drift to retrain at once',
        },
      );
    }
    const checked = await logGroup(env, 'ask Prometheus for drift alerts, retrain if one fires', () =>
      retrainIfDrift({
        ...options,
        drift: { prometheus, ...(deps.fetch ? { fetch: deps.fetch } : {}) },
      }),
    );
    if (!checked.result) {
      print(`no drift alert firing on ${prometheus.url}: nothing retrained`);
      return 0;
    }
    result = checked.result;
  } else {
    result = await logGroup(env, `retrain ${options.config.name}`, () => retrain(options));
  }
  print(result.markdown);
  print(
    result.pullRequest
      ? `pull request #${result.pullRequest.number}: ${result.pullRequest.url}`
      : `not better than ${values.env}: no pull request (${result.checks
          .filter((c) => !c.pass)
          .map((c) => `${c.gate}: expected ${c.expected}, got ${c.actual}`)
          .join('; ')})`,
  );
  return 0;
});

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
