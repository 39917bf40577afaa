/**
 * The flags of npm run promote, rollback and revert: one set, since a
 * rollback is a promotion of the previous pin and a revert a rollback with a
 * reason. Parsed and checked once (every misuse is USAGE, exit 2, naming the
 * flag) into the request and the options of the promotion context; each
 * command (scripts/) then builds the context and calls promote(),
 * rollback() or revert() (./promote.ts).
 */
import { environmentChoices } from '../../gitops/index.ts';
import { LOCK_FILE_NAME } from '../../lock/index.ts';
import { parseCommand, usageError } from '../../platform/cli.ts';
import { GATES_FILE } from './config.ts';
import type { PromotionContextOptions } from './context.ts';
import type { PromoteRequest } from './promote.ts';

export const PROMOTION_USAGE = `usage: npm run promote -- --env <env> [--model <name>] [--version <id>] [options]
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

/** What the commands accept (platform/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: PROMOTION_USAGE,
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
  choices: { env: environmentChoices((v) => String(v.environments)) },
} as const;

/** The command that was run. */
export type PromotionCommand = 'promote' | 'rollback' | 'revert';

/** What the flags ask for. */
export interface ParsedPromotion {
  /** What to do: the command, or `rollback` for npm run promote --rollback. */
  action: PromotionCommand;
  /** The environment, model, version (a revert: the failed one), image and override. */
  request: PromoteRequest;
  /** A revert's reason: the text itself, or the file that holds it (exactly one of the two). */
  reason?: { text: string } | { file: string };
  /** The flags that make the promotion context (promotionContext adds the command's side effects). */
  context: Pick<
    PromotionContextOptions,
    'lock' | 'environments' | 'gates' | 'commit' | 'push' | 'remote' | 'render'
  >;
}

/**
 * Parse `argv` for `command`; undefined after --help (printed). USAGE naming
 * the flag for each flag that does not belong to the command or misses its partner.
 */
export function parsePromotionFlags(
  argv: string[],
  command: PromotionCommand,
  print: (text: string) => void,
  cwd: string = process.cwd(),
): ParsedPromotion | undefined {
  const cli = parseCommand(argv, COMMAND, (t) => print(`${t}\n`), cwd);
  if (!cli) return undefined;
  const f = cli.values;
  const usage = (m: string) => usageError(m, PROMOTION_USAGE);
  const reverting = command === 'revert';
  const rollback = command === 'rollback' || reverting || f.rollback;
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
  return {
    action: reverting ? 'revert' : rollback ? 'rollback' : 'promote',
    request: {
      env: f.env as string,
      model: f.model || undefined,
      version: f.version || undefined,
      image: f.image || undefined,
      allowReverted: f['allow-reverted'],
    },
    reason: !reverting
      ? undefined
      : f.reason !== undefined
        ? { text: f.reason }
        : { file: f['reason-file'] as string },
    context: {
      lock: f.lock,
      environments: f.environments,
      gates: f.gates,
      commit: f.commit,
      push: f.push,
      remote: f.remote,
      render: !f['no-render'],
    },
  };
}
