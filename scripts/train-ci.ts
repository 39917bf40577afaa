/**
 * Train a candidate for the pull request of this GitHub Actions run
 * (train.yml runs it as `npm run train:ci`).
 *
 *   tsx scripts/train-ci.ts [--config training/configs/demo.json] [--lock models.lock.json]
 *                           [--out artifacts/<name>] [--data DIR] [--model NAME] [--env prod]
 *
 * Thin: flags → platform/github trainForPullRequest (context → train + MLflow →
 * lock entry committed to the PR branch → job summary + PR comment) →
 * print. Without the GitHub context it stops with exit 2 before changing
 * anything. See docs/ci-training.md. Exit codes: 0, 1 failure, 2 bad usage.
 */

import { type BackendName, TRAINING_ORDER } from '../model/backend.ts';
import { assertGpuReady } from '../model/native/preflight.ts';
import { TRAINING_FLAGS, trainForPullRequest } from '../pipelines/training/index.ts';
import { logGroup } from '../platform/github/actions.ts';
import { command, isMain, ProjectError, runMain } from '../platform/index.ts';
import { loadTrainingConfig } from '../training/index.ts';

const USAGE = `usage: npm run train:ci -- [--config training/configs/demo.json] [--lock models.lock.json]
  [--out artifacts/<config name>] [--data <dir>] [--model <name>] [--env prod]
  --config  training config (default training/configs/demo.json)
  --lock    the lock file to add the candidate to and commit (default models.lock.json)
  --out     artifact folder (default artifacts/<config name>-pr<number>)
  --env     the environment whose pinned version (the champion) is scored on the golden set beside
            the candidate and compared with (default prod)
Needs the GitHub Actions context: GITHUB_EVENT_NAME=pull_request, GITHUB_EVENT_PATH,
GITHUB_REPOSITORY, GITHUB_TOKEN (and GITHUB_API_URL / GITHUB_STEP_SUMMARY as Actions sets them).
TRAINING_BACKEND (tensorflow-gpu | tensorflow | cpu) forces a backend; train.yml sets tensorflow-gpu on
the runners labelled gpu, and then a GPU preflight (driver, CUDA, cuDNN) runs first and fails the job
with what is missing instead of training on the CPU.`;

export interface MainDeps {
  env?: Record<string, string | undefined>;
  cwd?: string;
  print?: (line: string) => void;
  log?: (line: string) => void;
  /** Prefix of system paths for the GPU preflight (tests: a fake machine). */
  fsRoot?: string;
  /** Passed through to the push retries (tests). */
  push?: { maxAttempts?: number; backoffMs?: number; beforePush?: (attempt: number) => Promise<void> };
}

/** What the command accepts (platform/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  options: {
    ...TRAINING_FLAGS,
    env: { type: 'string', default: 'prod' },
  },
} as const;

export const main = command(COMMAND, async (cli, deps: MainDeps = {}) => {
  const print = deps.print ?? console.log;
  const { values } = cli;
  const env = deps.env ?? process.env;
  const cwd = deps.cwd ?? process.cwd();
  const forced = env.TRAINING_BACKEND;
  if (forced && !(TRAINING_ORDER as string[]).includes(forced)) {
    throw new ProjectError('USAGE', `TRAINING_BACKEND=${forced} is not one of ${TRAINING_ORDER.join(', ')}`, {
      subject: 'TRAINING_BACKEND',
    });
  }
  // A GPU runner that cannot use its GPU fails here, in seconds, before any git, MLflow or training work.
  if (forced === 'tensorflow-gpu') {
    await logGroup(env, 'GPU preflight', () =>
      assertGpuReady({ env, projectRoot: cwd, fsRoot: deps.fsRoot }),
    );
  }
  const config = await loadTrainingConfig(values.config);
  const prNumber = /^\d+$/.test(env.GITHUB_REF_NAME?.split('/')[0] ?? '')
    ? env.GITHUB_REF_NAME?.split('/')[0]
    : '';
  const result = await logGroup(env, `train ${config.name}, record, compare with ${values.env}, report`, () =>
    trainForPullRequest({
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
      ...(forced ? { backend: forced as BackendName } : {}),
    }),
  );
  print(result.markdown);
  return 0;
});

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
