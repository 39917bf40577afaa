/**
 * The flags of npm run promote, rollback and revert: one set, since a
 * rollback is a promotion of the previous pin and a revert a rollback with a
 * reason. Parsed and checked once (every misuse is USAGE, exit 2, naming the
 * flag) into the request and the options of the promotion context; each
 * command (scripts/) then builds the context and calls promote(),
 * rollback() or revert() (./promote.ts).
 */
import { join } from 'node:path';
import { environmentChoices } from '../../gitops/index.ts';
import { LOCK_FILE_NAME } from '../../lock/index.ts';
import { parseCommand, SHARED_FLAGS, usageError, usageOf } from '../../platform/cli.ts';
import { GATES_FILE } from './config.ts';
import type { PromotionContextOptions } from './context.ts';
import type { PromoteRequest } from './promote.ts';

/** The flags of the three commands; each command's help lists its own (the rest are hidden). */
const OPTIONS = {
  env: { type: 'string', help: 'the environment to move (a folder of <root>/environments)' },
  model: SHARED_FLAGS.model,
  version: {
    type: 'string',
    value: '<id>',
    // A string, not its literal: revert gives its own help.
    help: 'the version to promote (default: dev the newest candidate, staging the dev pin,\nprod the staging pin)' as string,
  },
  image: {
    type: 'string',
    value: '<registry/model-server@sha256:...>',
    help: 'the serving image to run it with, by digest (default: the image of the environment\nit is promoted from; dev: the image dev runs now)',
  },
  rollback: {
    type: 'boolean',
    default: false,
    help: 'pin the version the environment ran before (what npm run rollback does)',
  },
  'allow-reverted': {
    type: 'string',
    value: '<why>',
    help: 'promote a version that a revert took out of an environment anyway (the notReverted\ngate passes; <why> goes into the gate table and the commit)',
  },
  reason: {
    type: 'string',
    value: '<text>',
    help: 'the failed checks, verbatim: into the commit message, the promotion record (reverted)\nand the job summary ($GITHUB_STEP_SUMMARY)',
  },
  'reason-file': { type: 'string', value: '<file>', help: 'the same, read from a file' },
  root: {
    type: 'string',
    default: '.',
    value: '<dir>',
    help: 'the repository: its environments/, and the lock and gates files unless given',
  },
  lock: { type: 'string', value: '<file>', help: `the lock file (default: <root>/${LOCK_FILE_NAME})` },
  gates: { type: 'string', value: '<file>', help: `the promotion gates (default: <root>/${GATES_FILE})` },
  commit: { type: 'boolean', default: false, help: 'git commit the lock and the pin file' },
  push: {
    type: 'boolean',
    default: false,
    help: 'push the commit (a push race is redone on top of the moved branch)',
  },
  remote: { type: 'string', default: 'origin', value: '<name>', help: 'the remote to push to' },
  'no-render': {
    type: 'boolean',
    default: false,
    help: 'do not render the environment with Kustomize before writing the lock',
  },
} as const;

const SHARED = {
  options: OPTIONS,
  required: ['env'],
  choices: { env: environmentChoices((v) => join(String(v.root), 'environments')) },
  exit: { 0: 'moved, or already there', 1: 'a gate failed or an error, nothing changed' },
} as const;

/** Each command's spec (platform/cli.ts: its help is generated from it). */
const COMMANDS = {
  promote: {
    ...SHARED,
    run: 'npm run promote --',
    summary: `Promote a model version to an environment through its gates (${GATES_FILE}):
the pin moves in the lock and in environments/<env>/model-pin.yaml together,
optionally committed and pushed (docs/promotion.md).`,
    hidden: ['reason', 'reason-file'],
  },
  rollback: {
    ...SHARED,
    run: 'npm run rollback --',
    summary: `Roll an environment back to the version it ran before its current pin, through
the same path as a promotion: artifact digests checked, lock and pin file moved
together, optionally committed and pushed (docs/promotion.md).`,
    hidden: ['version', 'image', 'rollback', 'allow-reverted', 'reason', 'reason-file'],
  },
  revert: {
    ...SHARED,
    options: {
      ...OPTIONS,
      version: { ...OPTIONS.version, help: 'the version whose verification failed (--env pins it now)' },
    },
    run: 'npm run revert --',
    summary: `Revert: a rollback of --env away from --version, the version that failed its
post-promotion verification (which --env must pin now), with the failure as the
reason (docs/rollout.md "Automatic revert").`,
    notes: 'Give the reason with exactly one of --reason and --reason-file.',
    hidden: ['image', 'rollback', 'allow-reverted'],
  },
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
  const spec = COMMANDS[command];
  const cli = parseCommand(argv, spec, (t) => print(`${t}\n`), cwd);
  if (!cli) return undefined;
  const f = cli.values;
  const usage = (m: string) => usageError(m, usageOf(spec));
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
      lock: f.lock ?? join(f.root, LOCK_FILE_NAME),
      environments: join(f.root, 'environments'),
      gates: f.gates ?? join(f.root, GATES_FILE),
      commit: f.commit,
      push: f.push,
      remote: f.remote,
      render: !f['no-render'],
    },
  };
}
