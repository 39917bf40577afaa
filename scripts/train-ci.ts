/**
 * Train a candidate for the pull request of this GitHub Actions run
 * (train.yml runs it as `npm run train:ci`).
 *
 *   tsx scripts/train-ci.ts [--config training/configs/demo.json] [--lock models.lock.json]
 *                           [--out artifacts/<name>] [--data DIR] [--model NAME] [--env prod]
 *
 * Thin: flags → lib/github trainForPullRequest (context → train + MLflow →
 * lock entry committed to the PR branch → job summary + PR comment) →
 * print. Without the GitHub context it stops with exit 2 before changing
 * anything. See docs/ci-training.md. Exit codes: 0, 1 failure, 2 bad usage.
 */

import { isMain, parseCommand, runMain } from '../lib/index.ts';
import { TRAINING_FLAGS, trainForPullRequest } from '../pipelines/training/index.ts';
import { loadTrainingConfig } from '../training/index.ts';

const USAGE = `usage: npm run train:ci -- [--config training/configs/demo.json] [--lock models.lock.json]
  [--out artifacts/<config name>] [--data <dir>] [--model <name>] [--env prod]
  --config  training config (default training/configs/demo.json)
  --lock    the lock file to add the candidate to and commit (default models.lock.json)
  --out     artifact folder (default artifacts/<config name>-pr<number>)
  --env     the environment the candidate is compared with (default prod)
Needs the GitHub Actions context: GITHUB_EVENT_NAME=pull_request, GITHUB_EVENT_PATH,
GITHUB_REPOSITORY, GITHUB_TOKEN (and GITHUB_API_URL / GITHUB_STEP_SUMMARY as Actions sets them).`;

export interface MainDeps {
  env?: Record<string, string | undefined>;
  cwd?: string;
  print?: (line: string) => void;
  log?: (line: string) => void;
  /** Passed through to the push retries (tests). */
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
}

/** What the command accepts (lib/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  options: {
    ...TRAINING_FLAGS,
    env: { type: 'string', default: 'prod' },
  },
} as const;

export async function main(argv: string[], deps: MainDeps = {}): Promise<number> {
  const cli = parseCommand(argv, COMMAND, deps.print);
  if (!cli) return 0;
  const print = deps.print ?? console.log;
  const { values } = cli;
  const env = deps.env ?? process.env;
  const cwd = deps.cwd ?? process.cwd();
  const config = await loadTrainingConfig(values.config);
  const prNumber = /^\d+$/.test(env.GITHUB_REF_NAME?.split('/')[0] ?? '')
    ? env.GITHUB_REF_NAME?.split('/')[0]
    : '';
  const result = await trainForPullRequest({
    config,
    configPath: values.config,
    env,
    cwd,
    lockPath: values.lock,
    outDir: values.out ?? `artifacts/${config.name}${prNumber ? `-pr${prNumber}` : ''}`,
    dataPath: values.data,
    modelName: values.model,
    compareEnv: values.env,
    log: deps.log,
    push: deps.push,
  });
  print(result.markdown);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
