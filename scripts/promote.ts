import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { findKustomize, renderAll } from '../gitops/index.ts';
import { LOCK_FILE_NAME, type Lock } from '../lock/index.ts';
import {
  GATES_FILE,
  lockDigestVerifier,
  lockGoldenReader,
  type PromoteResult,
  promote,
  promotionEnvFrom,
  revertSummary,
} from '../pipelines/promotion/index.ts';
import { appendJobSummary } from '../platform/github/summary.ts';
import {
  isMain,
  ProjectError,
  parseCommand,
  runMain,
  type ScriptDeps,
  scriptDeps,
  usageError,
} from '../platform/index.ts';
import { mlflowConfigFromEnv } from '../platform/mlflow/index.ts';

const USAGE = `usage: npm run promote -- --env <env> [--model <name>] [--version <id>] [options]
       npm run rollback -- --env <env> [--model <name>] [options]
       npm run revert -- --env <env> --version <failed id> (--reason <text> | --reason-file <file>) [options]
  --env           environment to move: dev, staging, prod (a folder under --environments)
  --model         model in the lock (default: the only one)
  --version       version to promote (default: dev the newest candidate, staging the dev pin, prod the staging pin)
  --rollback      pin the version the environment ran before (what \`npm run rollback\` does)
  --allow-reverted <why>  promote a version that a revert took out of an environment anyway
                  (the notReverted gate passes; <why> goes into the gate table and the commit)
  --reason, --reason-file  (revert) the failed checks, verbatim: into the commit message,
                  the promotion record (reverted) and the job summary ($GITHUB_STEP_SUMMARY)
  --image         the serving image to run it with, by digest (registry/model-server@sha256:...); default:
                  the image of the environment it is promoted from (dev: the image dev runs now)
  --lock          models.lock.json (default ./${LOCK_FILE_NAME})
  --environments  environments folder (default ./environments)
  --gates         gates config (default ./${GATES_FILE})
  --commit        git commit the lock and the pin file
  --push          push the commit (retries a push race on top of the moved branch)
  --remote        remote to push to (default origin)
  --no-render     do not render the environment with Kustomize before writing the lock
A revert is a rollback of --env away from --version (the version that failed its
post-promotion verification, which --env must pin now); docs/rollout.md "Automatic revert".
Exit 0: promoted, or already there; 1: a gate failed or an error, nothing changed; 2: bad usage.`;

/** Side effects of the script, replaceable in tests. */
export type PromoteScriptDeps = ScriptDeps;

/** Render `env` of the repository with real Kustomize, checking its pin against `lock` (not written yet). */
function renderCheck(root: string, env: Record<string, string | undefined>) {
  return async (lock: Lock, name: string) => {
    const kustomize = await findKustomize(env as NodeJS.ProcessEnv).catch((e: ProjectError) => {
      throw new ProjectError('NOT_FOUND', e.message.split('\n')[0] as string, {
        subject: 'kustomize',
        hint: 'run `bash scripts/setup.d/20-kube-tools.sh`, or pass --no-render to skip the render check',
        cause: e,
      });
    });
    try {
      await renderAll({ root, lock, lockPath: join(root, LOCK_FILE_NAME), kustomize, envs: [name] });
    } catch (e) {
      if (e instanceof ProjectError) {
        throw new ProjectError(e.code, `the ${name} overlay does not render with the new pin: ${e.message}`, {
          subject: `environments/${name}`,
          cause: e,
          hint: 'nothing was changed; fix the overlay or the manifests first',
        });
      }
      throw e;
    }
  };
}

/** What the command accepts (platform/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  required: ['env'],
  options: {
    env: { type: 'string' },
    model: { type: 'string' },
    version: { type: 'string' },
    image: { type: 'string' },
    rollback: { type: 'boolean', default: false },
    'allow-reverted': { type: 'string' },
    reason: { type: 'string' },
    'reason-file': { type: 'string' },
    lock: { type: 'string', default: LOCK_FILE_NAME },
    environments: { type: 'string', default: 'environments' },
    gates: { type: 'string', default: GATES_FILE },
    commit: { type: 'boolean', default: false },
    push: { type: 'boolean', default: false },
    remote: { type: 'string', default: 'origin' },
    'no-render': { type: 'boolean', default: false },
  },
} as const;

/** Run a promotion (or, with `rollback`, a rollback); returns the exit code. */
export async function main(
  argv: string[],
  deps: Partial<PromoteScriptDeps> = {},
  mode: 'promote' | 'rollback' | 'revert' = 'promote',
): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, (t) => d.print(`${t}\n`));
  if (!cli) return 0;
  const f = { ...cli.values, env: cli.values.env! };
  const usage = (m: string) => usageError(m, USAGE);
  const reverting = mode === 'revert';
  const rollback = mode === 'rollback' || reverting || f.rollback;
  if (!reverting && (f.reason !== undefined || f['reason-file'] !== undefined))
    throw usage('--reason and --reason-file belong to npm run revert');
  if (reverting && !f.version) throw usage('--version is required: the version whose verification failed');
  if (reverting && (f.reason === undefined) === (f['reason-file'] === undefined))
    throw usage('give the reason with exactly one of --reason and --reason-file');
  if (rollback && f['allow-reverted'] !== undefined)
    throw usage('--allow-reverted applies to a promotion, not to a rollback');
  if (rollback && !reverting && f.version)
    throw usage('--version does not apply to a rollback (it pins the previous version)');
  if (rollback && f.image)
    throw usage('--image does not apply to a rollback (it restores the image of the previous state)');
  if (f.push && !f.commit) throw usage('--push needs --commit');

  const who = promotionEnvFrom(d.env);
  const lockPath = resolve(d.cwd, f.lock);
  const environmentsDir = resolve(d.cwd, f.environments);
  const mlflow = mlflowConfigFromEnv(d.env);
  const reason = reverting
    ? (f.reason ??
      (await readFile(resolve(d.cwd, f['reason-file']!), 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new ProjectError('USAGE', `--reason-file ${f['reason-file']}: ${e.code ?? e.message}`, {
          subject: '--reason-file',
          cause: e,
        });
      })))
    : undefined;
  const result: PromoteResult = await promote(
    {
      mode: rollback ? 'rollback' : 'promote',
      env: f.env,
      ...(f.model ? { model: f.model } : {}),
      ...(f.version && !reverting ? { version: f.version } : {}),
      ...(reverting ? { revert: { version: f.version!, reason: reason! } } : {}),
      ...(f['allow-reverted'] !== undefined ? { allowReverted: f['allow-reverted'] } : {}),
      ...(f.image ? { image: f.image } : {}),
      lockPath,
      environmentsDir,
      gatesPath: resolve(d.cwd, f.gates),
      commit: f.commit,
      push: f.push,
      remote: f.remote,
    },
    {
      now: d.now,
      ...(who.by ? { by: who.by } : {}),
      print: d.print,
      gitEnv: { ...process.env, ...d.env } as NodeJS.ProcessEnv,
      verifyDigests: lockDigestVerifier({
        lockDir: dirname(lockPath),
        ...(mlflow ? { mlflow } : {}),
        ...(d.fetch ? { fetch: d.fetch } : {}),
      }),
      readGolden: lockGoldenReader({
        lockDir: dirname(lockPath),
        ...(mlflow ? { mlflow } : {}),
        ...(d.fetch ? { fetch: d.fetch } : {}),
      }),
      // PATH and the tools folder come from the process: d.env is the promotion's context.
      ...(f['no-render']
        ? {}
        : { render: renderCheck(dirname(environmentsDir), { ...process.env, ...d.env }) }),
    },
  );
  if (result.changed && !f.commit) {
    d.print('not committed: commit models.lock.json and the pin file (or run with --commit)\n');
  }
  if (reverting && d.env.GITHUB_STEP_SUMMARY)
    await appendJobSummary(d.env.GITHUB_STEP_SUMMARY, revertSummary(result));
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
