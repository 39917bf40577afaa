/**
 * The one path every pin move takes, a promotion, a rollback or a revert
 * alike (./promote.ts builds the {@link Move} from a request): refuse to
 * start over uncommitted changes, choose the model and version, pass the
 * gates, move the pin in models.lock.json and environments/<env>/model-pin.yaml
 * together (./apply.ts), then commit and push (./publish.ts), redoing the
 * move on a moved branch, and last point the environment's alias in MLflow's
 * registry at it (./aliases.ts). A refused move changes nothing: not the
 * lock, not the pin file, not git, not MLflow. See docs/promotion.md.
 */
import { join, relative } from 'node:path';
import {
  chooseModel,
  type Lock,
  pinnedImage,
  previousPin,
  previousRecord,
  REVERT_REASON_MAX,
  readLock,
} from '../../lock/index.ts';
import { isDigestRef, PIN_FILE, TAG_ALLOWED_ENVS } from '../../model/pin.ts';
import { ProjectError } from '../../platform/errors.ts';
import { type AliasOutcome, moveAliases } from './aliases.ts';
import { applyPin } from './apply.ts';
import type { EnvironmentRule } from './config.ts';
import type { PromotionContext } from './context.ts';
import { assertGatesPassed, evaluateGates, formatGateTable, type GateResult } from './gates.ts';
import { openGit, publishMove } from './publish.ts';
import { chooseVersion } from './select.ts';

/** What one move pins; ./promote.ts builds it from a request. */
export interface Move {
  /** `promote`: the environment's gates; `rollback`: the previous pin, digests checked only. */
  kind: 'promote' | 'rollback';
  env: string;
  /** Default: the lock's only model. */
  model?: string;
  /** Default: by the rule's source (promote), the previous pin (rollback). */
  version?: string;
  /** The serving image to run it with; default: {@link imageFor}. */
  image?: string;
  /**
   * A revert (a rollback): `version` failed its post-promotion verification
   * and must be what `env` pins now; `reason` (the failed checks, verbatim)
   * goes into the commit message and the promotion record (`reverted`).
   */
  revert?: { version: string; reason: string };
  /** Promote a version that was reverted somewhere anyway, saying why (the notReverted gate passes and records it). */
  allowReverted?: string;
  /** Where the version comes from (`source`) and the gates it must pass. */
  rule: EnvironmentRule;
}

export interface PromoteResult {
  mode: 'promote' | 'rollback';
  model: string;
  env: string;
  version: string;
  /** The version pinned before. */
  from: string | null;
  /** The serving image the environment runs now (undefined: the base's, by tag). */
  image?: string;
  /** Set for a revert: the version that failed, and why. */
  revert?: { version: string; reason: string };
  gates: GateResult[];
  /** False: the environment already ran this version, nothing was written. */
  changed: boolean;
  /** The promotion commit, with --commit. */
  commit?: string;
  pushed: boolean;
  pushAttempts: number;
  /** What became of the environment's alias in MLflow's registry (./aliases.ts). */
  aliases?: AliasOutcome;
}

/** environments/<env>/model-pin.yaml of the context's repository. */
export const pinPathOf = (ctx: PromotionContext, env: string): string =>
  join(ctx.environmentsDir, env, PIN_FILE);

/**
 * Move the pin of `move.env`, then point the environment's MLflow alias at it
 * (./aliases.ts: said, never thrown, when it cannot be); throws GATE_FAILED,
 * NOT_FOUND, INVALID, CONFLICT with nothing changed.
 */
export async function movePin(move: Move, ctx: PromotionContext): Promise<PromoteResult> {
  const result = await moveAndPublish(move, ctx);
  result.aliases = await moveAliases(result, ctx);
  return result;
}

/** Choose, gate and move the pin, then commit and push it (with the context's git). */
async function moveAndPublish(move: Move, ctx: PromotionContext): Promise<PromoteResult> {
  const git = await openGit(ctx, [ctx.lockPath, pinPathOf(ctx, move.env)]);
  const result = await applyMove(move, ctx, false);
  if (!result.changed) return result;
  if (!git) {
    ctx.print('not committed: commit models.lock.json and the pin file (or run with --commit)\n');
    return result;
  }
  // The version is chosen once; a retry after a push race moves the same one.
  const chosen: Move = { ...move, model: result.model, version: result.version };
  return publishMove(git, result, ctx, {
    reapply: () => applyMove(chosen, ctx, true),
    recheck: async (lock) => {
      await passGates(lock, result.model, result.version, chosen, ctx, { skipDigests: true });
    },
  });
}

/** Choose, check the gates and move the pin (lock + pin file); git comes after. */
async function applyMove(move: Move, ctx: PromotionContext, skipDigests: boolean): Promise<PromoteResult> {
  const lock = await readLock(ctx.lockPath);
  const model = chooseModel(lock, move.model, ctx.lockPath);
  const current = lock.models[model]?.pins[move.env];
  if (move.revert && current !== move.revert.version) return revertedBefore(lock, model, move, ctx);
  const version = versionOf(lock, model, move);
  const image = imageFor(lock, model, move);
  const gates = await passGates(lock, model, version, move, ctx, {
    skipDigests,
    report: (results) =>
      ctx.print(
        `${move.kind} ${model} version ${version} to ${move.env} (pinned now: ${current ?? 'nothing'})\n${formatGateTable(results)}`,
      ),
  });
  assertImagePinned(
    move.env,
    image,
    move.kind === 'rollback' ? 'the state rolled back to' : move.rule.source,
  );
  const applied = await applyPin(
    {
      lockPath: ctx.lockPath,
      envDir: join(ctx.environmentsDir, move.env),
      model,
      env: move.env,
      version,
      at: ctx.now().toISOString(),
      by: ctx.by,
      image,
      reverted: move.revert && revertNote(move.revert.reason),
    },
    {
      ...ctx.applyDeps,
      check: (now) => recheckUnderLock(now, lock, { model, version }, move, ctx),
      verifyPinned: async (next) => {
        await ctx.applyDeps?.verifyPinned?.(next);
        await ctx.render?.(next, move.env);
      },
    },
  );
  const result: PromoteResult = {
    mode: move.kind,
    model,
    env: move.env,
    version,
    from: applied.from,
    image,
    revert: move.revert,
    gates,
    changed: applied.lockChanged || applied.pinChanged,
    pushed: false,
    pushAttempts: 0,
  };
  const rel = (path: string) => relative(ctx.root, path);
  ctx.print(
    result.changed
      ? `pinned ${model} ${move.env} to version ${version} (was ${applied.from ?? 'nothing'}): ${rel(ctx.lockPath)}, ${rel(pinPathOf(ctx, move.env))}\n`
      : `${move.env} already runs ${model} version ${version}: nothing changed\n`,
  );
  return result;
}

/**
 * The one gate check of a move: evaluate every gate of its rule for
 * `version` on `lock`, let `report` show the table, and throw GATE_FAILED
 * naming every gate that failed. `skipDigests` on a re-check of a lock that
 * moved: the entry is immutable and its files were checked already.
 */
async function passGates(
  lock: Lock,
  model: string,
  version: string,
  move: Move,
  ctx: PromotionContext,
  options: { skipDigests: boolean; report?: (results: GateResult[]) => void },
): Promise<GateResult[]> {
  const results = await evaluateGates({
    lock,
    model,
    version,
    gates: move.rule.gates,
    verifyDigests: ctx.verifyDigests,
    ...(ctx.checkSignature ? { checkSignature: ctx.checkSignature } : {}),
    ...(ctx.checkImage ? { checkImage: ctx.checkImage } : {}),
    image: imageFor(lock, model, move),
    skipDigests: options.skipDigests,
    readGolden: ctx.readGolden,
    allowReverted: move.allowReverted,
    env: move.env,
    ...(ctx.readShadow ? { readShadow: ctx.readShadow } : {}),
  });
  options.report?.(results);
  assertGatesPassed(results, { model, version, env: move.env, gatesPath: ctx.gatesPath });
  return results;
}

/**
 * Under the lock file, with the lock as it is on disk now: when another
 * writer moved a pin of the model since it was read, the revert must still
 * apply and the gates must still pass on what is there now.
 */
async function recheckUnderLock(
  now: Lock,
  read: Lock,
  target: { model: string; version: string },
  move: Move,
  ctx: PromotionContext,
): Promise<void> {
  const { model, version } = target;
  await ctx.applyDeps?.check?.(now);
  if (JSON.stringify(now.models[model]?.pins) === JSON.stringify(read.models[model]?.pins)) return;
  if (move.revert && now.models[model]?.pins[move.env] !== move.revert.version) {
    throw new ProjectError(
      'CONFLICT',
      `${move.env} no longer pins ${model} version ${move.revert.version} (the lock changed while reverting): nothing to revert`,
      { subject: `${model}/${move.env}` },
    );
  }
  await passGates(now, model, version, move, ctx, { skipDigests: true });
}

/**
 * A revert whose environment no longer pins the failed version: a no-op
 * when its last record is that very revert (a re-run of the job), else
 * CONFLICT (someone moved the pin since).
 */
function revertedBefore(lock: Lock, model: string, move: Move, ctx: PromotionContext): PromoteResult {
  const failed = move.revert?.version as string;
  const current = lock.models[model]?.pins[move.env];
  const last = lock.models[model]?.promotions.filter((p) => p.env === move.env).at(-1);
  if (last?.reverted && last.from === failed && last.to === current) {
    ctx.print(`${move.env} was already reverted from ${failed} to ${current}: nothing changed\n`);
    return {
      mode: move.kind,
      model,
      env: move.env,
      version: last.to,
      from: last.to,
      revert: move.revert,
      gates: [],
      changed: false,
      pushed: false,
      pushAttempts: 0,
    };
  }
  throw new ProjectError(
    'CONFLICT',
    `${move.env} pins ${model} version ${current ?? 'nothing'} now, not ${failed}, the version whose verification failed: nothing to revert`,
    {
      subject: `${model}/${move.env}`,
      hint: 'someone moved the pin since; verify what it pins now (npm run verify-rollout -- --env <env>)',
    },
  );
}

/** The version the move pins: the one named (it must exist), else by the rule's source, or the previous pin of a rollback. */
function versionOf(lock: Lock, model: string, move: Move): string {
  if (move.kind === 'promote' || move.version !== undefined) {
    return chooseVersion(lock, model, move.env, move.rule.source, move.version);
  }
  const previous = previousPin(lock, model, move.env);
  if (previous === undefined) {
    throw new ProjectError(
      'NOT_FOUND',
      `${move.env} has no previous version of model "${model}" to roll back to (pinned now: ${lock.models[model]?.pins[move.env] ?? 'nothing'})`,
      {
        subject: `${model}/${move.env}`,
        hint: 'a rollback needs an earlier promotion of this environment; promote a named version instead (npm run promote -- --env <env> --version <id>)',
      },
    );
  }
  return previous;
}

/**
 * The serving image `env` will run: `--image` when given; a rollback: the
 * image of the state it returns to; else the image the source environment
 * runs (staging ← dev, prod ← staging), or for dev (source `newest`) the image
 * it runs now.
 */
function imageFor(lock: Lock, model: string, move: Move): string | undefined {
  if (move.image !== undefined) return move.image;
  if (move.kind === 'rollback') return previousRecord(lock, model, move.env)?.image;
  const source = move.rule.source;
  return pinnedImage(lock, model, lock.models[model]?.pins[source] !== undefined ? source : move.env);
}

/** Environments other than dev run only images by digest (model/pin TAG_ALLOWED_ENVS); refused before anything is written. */
function assertImagePinned(env: string, image: string | undefined, from: string): void {
  if (TAG_ALLOWED_ENVS.includes(env) || (image !== undefined && isDigestRef(image))) return;
  throw new ProjectError(
    'INVALID',
    `${env} runs only images by digest, and ${from} ${image ? `runs ${image}, a tag without a digest` : 'has no image recorded'}: nothing was changed`,
    {
      subject: env,
      hint: 'promote dev with --image <registry>/model-server@sha256:<hex> (promote.yml passes the image image.yml built and attested), then promote from there',
    },
  );
}

/** What a revert records in the lock: the reason, cut to what the schema keeps (the commit message has it whole). */
function revertNote(reason: string): { reason: string } {
  const text = reason.trimEnd();
  if (text.length <= REVERT_REASON_MAX) return { reason: text };
  const tail = '\n… (cut: the revert commit message has the whole reason)';
  return { reason: `${text.slice(0, REVERT_REASON_MAX - tail.length)}${tail}` };
}
