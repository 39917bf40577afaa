/**
 * Train a candidate for the pull request of this GitHub Actions run
 * (train.yml's train job runs it as `npm run ci:train`, on the pull request's
 * code with read-only access and no GitHub token).
 *
 *   npm run ci:train -- [--config training/configs/demo.json] [--lock models.lock.json]
 *                       [--out artifacts/<name>] [--data DIR] [--model NAME] [--env prod]
 *                       [--handoff artifacts/pr-candidate]   (--help: what each means)
 *
 * Thin: flags → pipelines/training trainForPullRequest (context → train +
 * MLflow → job summary → the candidate and the report written to the handoff
 * folder, which the publish job checks and commits: scripts/publish-candidate.ts)
 * → print. Without the GitHub context it stops with exit 2 before changing
 * anything. See docs/ci-training.md. Exit codes: 0, 1 failure, 2 bad usage.
 */

import { environmentsBesideLock } from '../gitops/index.ts';
import { type BackendName, TRAINING_ORDER } from '../model/backend.ts';
import { assertGpuReady } from '../model/native/preflight.ts';
import { HANDOFF_DIR, TRAINING_FLAGS, trainForPullRequest } from '../pipelines/training/index.ts';
import { logGroup } from '../platform/github/actions.ts';
import { command, isMain, ProjectError, runMain } from '../platform/index.ts';
import { loadTrainingConfig } from '../training/index.ts';

export interface MainDeps {
  env?: Record<string, string | undefined>;
  cwd?: string;
  print?: (line: string) => void;
  log?: (line: string) => void;
  /** Prefix of system paths for the GPU preflight (tests: a fake machine). */
  fsRoot?: string;
}

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run ci:train --',
  summary: `Train a candidate for the pull request of this GitHub Actions run (train.yml's
train job), record it in MLflow, compare it with the champion of --env, and hand
the candidate and the report over to train.yml's publish job (docs/ci-training.md).`,
  options: {
    ...TRAINING_FLAGS,
    lock: { ...TRAINING_FLAGS.lock, help: 'the lock file to add the candidate to (in this checkout only)' },
    out: { ...TRAINING_FLAGS.out, help: 'the artifact folder (default: artifacts/<config name>-pr<number>)' },
    env: {
      type: 'string',
      default: 'prod',
      value: '<env>',
      help: 'the environment whose pinned version (the champion) is scored on the golden set\nbeside the candidate and compared with',
    },
    handoff: {
      type: 'string',
      default: HANDOFF_DIR,
      value: '<dir>',
      help: "the folder the candidate (candidate.json) and the report (report.md) are\nwritten to, for train.yml's publish job",
    },
  },
  choices: { env: environmentsBesideLock() },
  notes: `Needs the GitHub Actions context: GITHUB_EVENT_NAME=pull_request_target (or
pull_request), GITHUB_EVENT_PATH, GITHUB_REPOSITORY (and GITHUB_STEP_SUMMARY as
Actions sets it); without it, it stops (exit 2) before changing anything. No
token: it pushes and comments nothing (npm run ci:publish-candidate does, on the
base branch's code). Prints the report.
TRAINING_BACKEND (tensorflow-gpu | tensorflow | cpu) forces a backend; train.yml
sets tensorflow-gpu on the runners labelled gpu, and then a GPU preflight
(driver, CUDA, cuDNN) runs first and fails the job with what is missing instead
of training on the CPU.`,
  exit: { 0: 'the candidate trained, recorded and handed over' },
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
  const result = await logGroup(
    env,
    `train ${config.name}, record, compare with ${values.env}, hand over`,
    () =>
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
        handoffDir: values.handoff,
        log: deps.log,
        ...(forced ? { backend: forced as BackendName } : {}),
      }),
  );
  print(result.markdown);
  return 0;
});

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
