/**
 * A promotion (or a rollback) from start to end: choose the model and
 * version, evaluate the environment's gates, move the pin in models.lock.json
 * and environments/<env>/model-pin.yaml together, and optionally commit and
 * push, retrying a push race on top of the moved branch. A refused promotion
 * changes nothing: not the lock, not the pin file, not git. See docs/promotion.md.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { PIN_FILE } from '../../gitops/index.ts';
import {
  chooseModel,
  type Lock,
  pinnedImage,
  previousPin,
  previousRecord,
  REVERT_REASON_MAX,
  readLock,
} from '../../lock/index.ts';
import { isDigestRef, isImageRef, TAG_ALLOWED_ENVS } from '../../model/pin.ts';
import { ProjectError } from '../../platform/errors.ts';
import {
  commitAndPush,
  commitPaths,
  currentBranch,
  dirtyPaths,
  type GitRunner,
  gitRunner,
} from '../../platform/git/index.ts';
import { type ApplyPinDeps, applyPin } from './apply.ts';
import { type Gates, loadGatesConfig } from './config.ts';
import {
  assertGatesPassed,
  type DigestVerifier,
  evaluateGates,
  formatGateTable,
  type GateResult,
  type GoldenReader,
} from './gates.ts';
import { revertSubject } from './reverted.ts';
import { chooseVersion, ruleOf } from './select.ts';

export interface PromoteRequest {
  /** `promote`: the gates of the environment; `rollback`: the previous pin, digests checked only. */
  mode: 'promote' | 'rollback';
  env: string;
  model?: string;
  /** The version to promote (promote mode only); default by the environment's `source`. */
  version?: string;
  /**
   * The serving image to run it with (`registry/model-server@sha256:…`, what
   * image.yml built); default: the image the source environment runs (staging
   * from dev, prod from staging), or for dev the image it runs now. A rollback
   * restores the image of the state it returns to.
   */
  image?: string;
  lockPath: string;
  /** The folder holding one folder per environment (environments/). */
  environmentsDir: string;
  /** environments/promotion-gates.json (promote mode). */
  gatesPath: string;
  /** Commit the lock and the pin file. */
  commit: boolean;
  /** Push the commit to `remote` (needs `commit`). */
  push: boolean;
  /** Default `origin`. */
  remote?: string;
  /** Push attempts before giving up on a push race (default 5). */
  maxPushAttempts?: number;
  /** First wait after a rejected push, doubled each time (default 200 ms). */
  pushBackoffMs?: number;
  /**
   * Rollback mode: this rollback is a revert. `version` failed its
   * post-promotion verification and must be what the environment pins now;
   * `reason` (the failed checks, verbatim) goes into the commit message and
   * the promotion record (`reverted`), which the notReverted gate reads.
   */
  revert?: { version: string; reason: string };
  /** Promote a version that was reverted somewhere anyway, saying why (the notReverted gate passes and records it). */
  allowReverted?: string;
}

export interface PromoteContext {
  now: () => Date;
  /** Who promotes: a GitHub login (GITHUB_ACTOR) or a local user. */
  by?: string;
  verifyDigests: DigestVerifier;
  /** Reads golden.json of a version for the pairedNonInferiority gate (gates.ts lockGoldenReader). */
  readGolden?: GoldenReader;
  /** Render the environment with the new pin and lock before the lock is written (throw to refuse). */
  render?: (lock: Lock, env: string) => Promise<void>;
  print: (text: string) => void;
  /** Environment for git (credentials of the checkout, identity variables). */
  gitEnv?: NodeJS.ProcessEnv;
  /** Hooks into the pin move, for tests that make a write fail. */
  applyDeps?: ApplyPinDeps;
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
}

const ROLLBACK_GATES: Gates = { verifyDigests: true };

/** The promotion commit's message: subject, the reason of a revert (verbatim), the gate rows, the image. */
export function commitMessage(r: Omit<PromoteResult, 'commit' | 'pushed' | 'pushAttempts'>): string {
  const passed = r.gates.filter((g) => g.pass).length;
  const subject = r.revert
    ? revertSubject(r.model, r.env, r.version, r.revert.version)
    : r.mode === 'rollback'
      ? `rollback ${r.model} ${r.env} to ${r.version} (from ${r.from})`
      : `promote ${r.model}@${r.version} to ${r.env} (gates: ${passed}/${r.gates.length} passed)`;
  const body = [
    ...(r.revert ? ['Reason (the failed checks, verbatim):', '', r.revert.reason.trimEnd(), ''] : []),
    ...r.gates.map((g) => `${g.pass ? 'pass' : 'FAIL'} ${g.gate}: ${g.actual}`),
    ...(r.image ? [`image: ${r.image}`] : []),
  ].join('\n');
  return body ? `${subject}\n\n${body}\n` : `${subject}\n`;
}

/** What a revert records in the lock: the reason, cut to what the schema keeps (the commit message has it whole). */
function revertNote(reason: string): { reason: string } {
  const text = reason.trimEnd();
  if (text.length <= REVERT_REASON_MAX) return { reason: text };
  const tail = '\n… (cut: the revert commit message has the whole reason)';
  return { reason: `${text.slice(0, REVERT_REASON_MAX - tail.length)}${tail}` };
}

/**
 * The serving image `env` will run: `--image` when given; a rollback: the
 * image of the state it returns to; else the image the source environment
 * runs (staging ← dev, prod ← staging), or for dev (source `newest`) the image
 * it runs now.
 */
function imageFor(lock: Lock, model: string, req: PromoteRequest, source: string): string | undefined {
  if (req.image !== undefined) return req.image;
  if (req.mode === 'rollback') return previousRecord(lock, model, req.env)?.image;
  return pinnedImage(lock, model, lock.models[model]?.pins[source] !== undefined ? source : req.env);
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

/** Run a promotion or rollback; throws GATE_FAILED, NOT_FOUND, INVALID, CONFLICT with nothing changed. */
export async function promote(req: PromoteRequest, ctx: PromoteContext): Promise<PromoteResult> {
  if (req.push && !req.commit) throw new ProjectError('USAGE', '--push needs --commit');
  if (req.revert && req.mode !== 'rollback') throw new Error('promote: a revert is a rollback');
  if (req.revert && !req.revert.reason.trim()) {
    throw new ProjectError('USAGE', 'a revert needs a reason (the checks that failed)', {
      subject: '--reason',
    });
  }
  if (req.image !== undefined && !isImageRef(req.image)) {
    throw new ProjectError(
      'USAGE',
      `--image ${req.image} is not an image reference (registry/name[:tag][@sha256:<hex>])`,
      {
        subject: '--image',
      },
    );
  }
  const envDir = join(req.environmentsDir, req.env);
  if (!existsSync(envDir)) {
    throw new ProjectError('NOT_FOUND', `no environment folder ${envDir} for environment "${req.env}"`, {
      subject: req.env,
      hint: 'environments are the folders under environments/ (dev, staging, prod)',
    });
  }
  const rule =
    req.mode === 'rollback'
      ? { source: '', gates: ROLLBACK_GATES }
      : ruleOf(await loadGatesConfig(req.gatesPath), req.env, req.gatesPath);
  const { gates, source } = rule;
  const pinPath = join(envDir, PIN_FILE);
  const remote = req.remote ?? 'origin';
  const maxAttempts = req.maxPushAttempts ?? 5;
  const gitEnv = ctx.gitEnv ?? process.env;

  let git: GitRunner | undefined;
  let branch = '';
  if (req.commit) {
    git = gitRunner(dirname(req.lockPath), { env: gitEnv });
    const dirty = await dirtyPaths(git, [req.lockPath, pinPath]);
    if (dirty.length) {
      throw new ProjectError(
        'INVALID',
        `uncommitted changes to ${dirty.join(', ')}: a promotion commit holds only its own change`,
        { subject: dirty[0], hint: 'commit or discard those changes first, then promote again' },
      );
    }
    if (req.push) branch = await currentBranch(git);
  }

  // The version is chosen once; a retry after a push race promotes the same one.
  let version = req.version;
  let model = req.model;

  /** Choose, check the gates and move the pin (lock + pin file); git comes after. */
  const apply = async (skipDigests: boolean): Promise<PromoteResult> => {
    const lock = await readLock(req.lockPath);
    model = chooseModel(lock, model, req.lockPath);
    const current = lock.models[model]?.pins[req.env];
    if (req.revert && current !== req.revert.version) {
      const last = lock.models[model]?.promotions.filter((p) => p.env === req.env).at(-1);
      if (last?.reverted && last.from === req.revert.version && last.to === current) {
        ctx.print(
          `${req.env} was already reverted from ${req.revert.version} to ${current}: nothing changed\n`,
        );
        return {
          mode: req.mode,
          model,
          env: req.env,
          version: current,
          from: current,
          revert: req.revert,
          gates: [],
          changed: false,
          pushed: false,
          pushAttempts: 0,
        };
      }
      throw new ProjectError(
        'CONFLICT',
        `${req.env} pins ${model} version ${current ?? 'nothing'} now, not ${req.revert.version}, the version whose verification failed: nothing to revert`,
        {
          subject: `${model}/${req.env}`,
          hint: 'someone moved the pin since; verify what it pins now (npm run verify-rollout -- --env <env>)',
        },
      );
    }
    if (version === undefined) {
      if (req.mode === 'rollback') {
        const prev = previousPin(lock, model, req.env);
        if (prev === undefined) {
          throw new ProjectError(
            'NOT_FOUND',
            `${req.env} has no previous version of model "${model}" to roll back to (pinned now: ${current ?? 'nothing'})`,
            {
              subject: `${model}/${req.env}`,
              hint: 'a rollback needs an earlier promotion of this environment; promote a named version instead (npm run promote -- --env <env> --version <id>)',
            },
          );
        }
        version = prev;
      } else {
        version = chooseVersion(lock, model, req.env, source, undefined);
      }
    } else {
      chooseVersion(lock, model, req.env, source, version);
    }
    const v = version;
    const m = model;
    const image = imageFor(lock, m, req, source);
    const results = await evaluateGates({
      lock,
      model: m,
      version: v,
      gates,
      verifyDigests: ctx.verifyDigests,
      skipDigests,
      ...(ctx.readGolden ? { readGolden: ctx.readGolden } : {}),
      ...(req.allowReverted !== undefined ? { allowReverted: req.allowReverted } : {}),
    });
    ctx.print(
      `${req.mode} ${m} version ${v} to ${req.env} (pinned now: ${current ?? 'nothing'})\n${formatGateTable(results)}`,
    );
    assertGatesPassed(results, { model: m, version: v, env: req.env, gatesPath: req.gatesPath });
    assertImagePinned(req.env, image, req.mode === 'rollback' ? 'the state rolled back to' : source);
    const applied = await applyPin(
      {
        lockPath: req.lockPath,
        envDir,
        model: m,
        env: req.env,
        version: v,
        at: ctx.now().toISOString(),
        ...(ctx.by ? { by: ctx.by } : {}),
        ...(image ? { image } : {}),
        ...(req.revert ? { reverted: revertNote(req.revert.reason) } : {}),
      },
      {
        ...ctx.applyDeps,
        // The lock may have moved since it was read (another writer): re-check on what is there now.
        check: async (now) => {
          await ctx.applyDeps?.check?.(now);
          if (JSON.stringify(now.models[m]?.pins) === JSON.stringify(lock.models[m]?.pins)) return;
          if (req.revert && now.models[m]?.pins[req.env] !== req.revert.version) {
            throw new ProjectError(
              'CONFLICT',
              `${req.env} no longer pins ${m} version ${req.revert.version} (the lock changed while reverting): nothing to revert`,
              { subject: `${m}/${req.env}` },
            );
          }
          const again = await evaluateGates({
            lock: now,
            model: m,
            version: v,
            gates,
            skipDigests: true,
            ...(ctx.readGolden ? { readGolden: ctx.readGolden } : {}),
            ...(req.allowReverted !== undefined ? { allowReverted: req.allowReverted } : {}),
          });
          assertGatesPassed(again, { model: m, version: v, env: req.env, gatesPath: req.gatesPath });
        },
        verifyPinned: async (next) => {
          await ctx.applyDeps?.verifyPinned?.(next);
          await ctx.render?.(next, req.env);
        },
      },
    );
    const changed = applied.lockChanged || applied.pinChanged;
    const result: PromoteResult = {
      mode: req.mode,
      model: m,
      env: req.env,
      version: v,
      from: applied.from,
      ...(image ? { image } : {}),
      ...(req.revert ? { revert: req.revert } : {}),
      gates: results,
      changed,
      pushed: false,
      pushAttempts: 0,
    };
    if (!changed) {
      ctx.print(`${req.env} already runs ${m} version ${v}: nothing changed\n`);
      return result;
    }
    ctx.print(
      `pinned ${m} ${req.env} to version ${v} (was ${applied.from ?? 'nothing'}): ${relative(dirname(req.lockPath), req.lockPath)}, ${relative(dirname(req.lockPath), pinPath)}\n`,
    );
    return result;
  };

  let result = await apply(false);
  if (!git || !result.changed) return result;
  const paths = [req.lockPath, pinPath];
  if (!req.push) {
    result.commit = await commitPaths(git, paths, commitMessage(result), gitEnv);
    ctx.print(`committed ${result.commit.slice(0, 12)}: ${commitMessage(result).split('\n')[0]}\n`);
    return result;
  }
  const firstGates = result.gates;
  const published = await commitAndPush({
    git,
    remote,
    branch,
    paths,
    message: commitMessage(result),
    env: gitEnv,
    maxAttempts,
    backoffMs: req.pushBackoffMs ?? 200,
    // The lock and the pin file are generated: on a push race the promotion is
    // redone on the moved branch (gates re-checked on its lock), never merged as text.
    regenerate: true,
    reapply: async () => {
      ctx.print(`push rejected: ${remote} ${branch} moved; applying the promotion on top of it again\n`);
      result = { ...(await apply(true)), gates: firstGates };
      return result.changed ? commitMessage(result) : undefined;
    },
    // Local commits besides the promotion were rebased: the pin must still be there, its gates still pass.
    validate: async () => {
      const lock = await readLock(req.lockPath);
      if (lock.models[result.model]?.pins[req.env] !== result.version) {
        throw new ProjectError(
          'CONFLICT',
          `after rebasing onto ${remote}/${branch}, ${req.env} no longer pins ${result.model} version ${result.version}`,
          { subject: branch, hint: 'run the promotion again' },
        );
      }
      const again = await evaluateGates({
        lock,
        model: result.model,
        version: result.version,
        gates,
        skipDigests: true,
        ...(ctx.readGolden ? { readGolden: ctx.readGolden } : {}),
        ...(req.allowReverted !== undefined ? { allowReverted: req.allowReverted } : {}),
      });
      assertGatesPassed(again, {
        model: result.model,
        version: result.version,
        env: req.env,
        gatesPath: req.gatesPath,
      });
    },
    log: (line) => ctx.print(`${line}\n`),
  });
  result.pushAttempts = published.attempts;
  // Redone on the moved branch and found there already: nothing was committed or pushed.
  if (!result.changed) return result;
  result.commit = published.commit;
  result.pushed = true;
  ctx.print(`committed ${result.commit.slice(0, 12)}: ${published.message.split('\n')[0]}\n`);
  ctx.print(`pushed to ${remote} ${branch}\n`);
  return result;
}
