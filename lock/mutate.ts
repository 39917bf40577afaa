/**
 * Pure operations on a lock: each takes a Lock and returns a new one (the
 * input is never modified). Errors name the model, version and environment.
 */
import { MODEL_NAME_PATTERN } from '../model/pin.ts';
import { ProjectError } from '../platform/errors.ts';
import { sortKeysDeep } from '../platform/json.ts';
import { ENV_NAME_PATTERN, validateVersionEntry, versionIdOf, versionsOldestFirst } from './schema.ts';
import type { Lock, LockedModel, LockedVersion, PromotionRecord, RevertNote } from './types.ts';

const modelNameRe = new RegExp(MODEL_NAME_PATTERN);
const envNameRe = new RegExp(ENV_NAME_PATTERN);

const sortedIds = (model: LockedModel): string[] => versionsOldestFirst(model);

function getModel(lock: Lock, model: string): LockedModel {
  const m = lock.models[model];
  if (!m) {
    const names = Object.keys(lock.models).sort();
    throw new ProjectError(
      'NOT_FOUND',
      `no model "${model}" in the lock (models: ${names.join(', ') || 'none'})`,
      {
        subject: model,
        hint: 'add a version first with `lock add --model <name> --artifact <dir>`',
      },
    );
  }
  return m;
}

/** Deep copy of a lock, so that operations never share state with their input. */
function cloneLock(lock: Lock): Lock {
  return structuredClone(lock);
}

export interface AddCandidateInput {
  model: string;
  entry: LockedVersion;
}

/**
 * Add a trained artifact as a version of `model`, creating the model if
 * needed. Its id is content-addressed (versionIdOf: v and the first 12 hex digits
 * of its rootDigest), so two branches that each add a candidate need no
 * coordination and never pick the same id for different artifacts. The entry
 * is validated alone first. An artifact already locked (same rootDigest) is a
 * CONFLICT naming the existing version: a version is added once, then pinned.
 */
export function addCandidate(lock: Lock, input: AddCandidateInput): { lock: Lock; version: string } {
  if (!modelNameRe.test(input.model)) {
    throw new ProjectError('INVALID', `model name "${input.model}" must match ${MODEL_NAME_PATTERN}`, {
      subject: input.model,
      hint: 'use lowercase letters, digits, ".", "_" and "-"',
    });
  }
  const entry = validateVersionEntry(
    structuredClone(input.entry),
    `candidate version of model "${input.model}"`,
  );
  const next = cloneLock(lock);
  const model: LockedModel = next.models[input.model] ?? { pins: {}, versions: {}, promotions: [] };
  next.models[input.model] = model;
  const ids = sortedIds(model);
  for (const id of ids) {
    if (model.versions[id]?.rootDigest === entry.rootDigest) {
      throw new ProjectError(
        'CONFLICT',
        `model "${input.model}" already has version ${id} with root digest ${entry.rootDigest} (artifact ${model.versions[id]?.artifactUri}); a duplicate version is not added`,
        {
          subject: `${input.model}@${id}`,
          hint: `pin version ${id} instead of adding the same artifact again`,
        },
      );
    }
  }
  const version = versionIdOf(entry.rootDigest);
  const taken = model.versions[version];
  if (taken) {
    // Two different artifacts whose root digests share 48 bits: astronomically rare, never silent.
    throw new ProjectError(
      'CONFLICT',
      `model "${input.model}" already has a version ${version} (root digest ${taken.rootDigest}), and the candidate's root digest ${entry.rootDigest} starts with the same ${version.length - 1} hex digits`,
      { subject: `${input.model}@${version}`, hint: 'train again (another seed gives another artifact)' },
    );
  }
  model.versions[version] = entry;
  return { lock: next, version };
}

export interface PinInput {
  model: string;
  env: string;
  version: string;
  /** ISO 8601 time of the promotion (passed in: the caller owns the clock). */
  at: string;
  by?: string;
  commit?: string;
  /** The serving image that runs it (recorded in the promotion record). */
  image?: string;
  /** This move is a revert of the version pinned now (recorded in the promotion record). */
  reverted?: RevertNote;
}

/**
 * Pin `env` of `model` to `version` and append a promotion record
 * `{ env, from, to, at, by?, commit?, image? }`. Pinning the version already
 * pinned, with no image or the image it runs already, returns the lock
 * unchanged (no record), so a re-run is harmless; a new image for the same
 * version is a promotion of its own (from = to).
 */
export function pinVersion(lock: Lock, input: PinInput): Lock {
  const model = getModel(lock, input.model);
  if (!envNameRe.test(input.env)) {
    throw new ProjectError('INVALID', `environment name "${input.env}" must match ${ENV_NAME_PATTERN}`, {
      subject: input.env,
      hint: 'environments are dev, staging, prod, or another lowercase folder name under environments/',
    });
  }
  if (!model.versions[input.version]) {
    throw new ProjectError(
      'NOT_FOUND',
      `model "${input.model}" has no version "${input.version}" to pin for ${input.env} (versions: ${sortedIds(model).join(', ') || 'none'})`,
      {
        subject: `${input.model}@${input.version}`,
        hint: 'pin one of the versions listed, or add the artifact first',
      },
    );
  }
  const from = model.pins[input.env] ?? null;
  const image = pinnedImage(lock, input.model, input.env);
  if (from === input.version && (input.image === undefined || input.image === image)) return lock;
  const next = cloneLock(lock);
  const m = next.models[input.model] as LockedModel;
  m.pins[input.env] = input.version;
  const record: PromotionRecord = { env: input.env, from, to: input.version, at: input.at };
  if (input.by !== undefined) record.by = input.by;
  if (input.commit !== undefined) record.commit = input.commit;
  if (input.image !== undefined) record.image = input.image;
  if (input.reverted !== undefined) record.reverted = { reason: input.reverted.reason };
  m.promotions.push(record);
  return next;
}

/** The serving image `env` runs (the image of its latest promotion record), if one was recorded. */
export function pinnedImage(lock: Lock, model: string, env: string): string | undefined {
  const records = lock.models[model]?.promotions ?? [];
  for (let i = records.length - 1; i >= 0; i--) if (records[i]?.env === env) return records[i]?.image;
  return undefined;
}

/**
 * The state a rollback of `env` returns to: the promotion record before its
 * latest one (whose `to` is the latest record's `from`, and whose `image` is
 * what that version ran with). Undefined when `env` was pinned once only.
 */
export function previousRecord(lock: Lock, model: string, env: string): PromotionRecord | undefined {
  const own = getModel(lock, model).promotions.filter((p) => p.env === env);
  return own.at(-1)?.from === null ? undefined : own.at(-2);
}

/**
 * The version `env` ran before its current pin (the `from` of its latest
 * promotion record): the target of a rollback. Undefined when the
 * environment was pinned once only, or never. Rolling back twice therefore
 * toggles between the two latest versions.
 */
export function previousPin(lock: Lock, model: string, env: string): string | undefined {
  const m = getModel(lock, model);
  for (let i = m.promotions.length - 1; i >= 0; i--) {
    const p = m.promotions[i];
    if (p?.env === env) return p.from ?? undefined;
  }
  return undefined;
}

/**
 * Check that `after` only appends to `before`: versions are immutable and
 * never removed, promotion records are only appended. Returns the problems.
 */
export function appendOnlyProblems(before: Lock, after: Lock): string[] {
  const problems: string[] = [];
  for (const [name, m] of Object.entries(before.models)) {
    const n = after.models[name];
    if (!n) {
      problems.push(`model "${name}" was removed`);
      continue;
    }
    for (const [id, v] of Object.entries(m.versions)) {
      const w = n.versions[id];
      if (!w) problems.push(`model "${name}" version ${id} was removed`);
      else if (JSON.stringify(sortKeysDeep(v)) !== JSON.stringify(sortKeysDeep(w))) {
        problems.push(`model "${name}" version ${id} was changed (versions are immutable)`);
      }
    }
    m.promotions.forEach((p, i) => {
      const q = n.promotions[i];
      if (!q || JSON.stringify(sortKeysDeep(p)) !== JSON.stringify(sortKeysDeep(q))) {
        problems.push(
          `model "${name}" promotion record ${i} was changed or removed (the history is append-only)`,
        );
      }
    });
  }
  return problems;
}

/**
 * The revert records of `version` of `model` (rollbacks post-promotion
 * verification made away from it, in any environment), oldest first. Empty
 * when it was never reverted.
 */
export function revertsOf(lock: Lock, model: string, version: string): PromotionRecord[] {
  return (lock.models[model]?.promotions ?? []).filter((p) => p.reverted && p.from === version);
}

/** The version of `model` whose artifact has `rootDigest`, if the lock holds it. */
export function versionWithRoot(lock: Lock, model: string, rootDigest: string): string | undefined {
  const versions = lock.models[model]?.versions ?? {};
  return Object.keys(versions).find((id) => versions[id]?.rootDigest === rootDigest);
}
