/**
 * Which model of a lock a command is about, and which version an
 * environment pins: the one implementation that promote, rollback,
 * verify-rollout, render, `npm run serve` (scripts/serve.ts,
 * SERVING_LOCK_FILE) and `npm run score` share.
 */
import { dirname, resolve } from 'node:path';
import type { ModelPin } from '../model/pin.ts';
import { resolveArtifactLocation } from '../platform/artifact-store/index.ts';
import { ProjectError } from '../platform/errors.ts';
import { readLock } from './io.ts';
import type { Lock, LockedVersion } from './types.ts';

/** The model a command is about: `requested`, or the only model of the lock. */
export function chooseModel(lock: Lock, requested: string | undefined, lockPath: string): string {
  const names = Object.keys(lock.models).sort();
  if (requested !== undefined) {
    if (!lock.models[requested]) {
      throw new ProjectError(
        'NOT_FOUND',
        `no model "${requested}" in ${lockPath} (models: ${names.join(', ') || 'none'})`,
        { subject: requested, hint: 'name one of the models listed with --model' },
      );
    }
    return requested;
  }
  if (names.length === 1) return names[0] as string;
  if (names.length === 0) {
    throw new ProjectError('NOT_FOUND', `${lockPath} has no models`, {
      subject: lockPath,
      hint: 'train a candidate first (npm run train -- ... --lock models.lock.json)',
    });
  }
  throw new ProjectError(
    'USAGE',
    `${lockPath} has several models (${names.join(', ')}); name one with --model`,
    { subject: lockPath },
  );
}

/** A model version as an environment pins it. */
export interface PinnedVersion {
  model: string;
  env: string;
  version: string;
  entry: LockedVersion;
}

/** The version `env` pins for `model`, with its entry; NOT_FOUND naming the lock, model and env. */
export function pinnedVersion(lock: Lock, model: string, env: string, lockPath: string): PinnedVersion {
  const m = lock.models[model];
  if (!m) throw new ProjectError('NOT_FOUND', `no model "${model}" in ${lockPath}`, { subject: model });
  const version = m.pins[env];
  if (version === undefined) {
    throw new ProjectError('NOT_FOUND', `${lockPath}: model ${model} has no pin for environment "${env}"`, {
      subject: `models.${model}.pins.${env}`,
      hint: `promote a version to ${env} first (npm run promote -- --env ${env}); pins now: ${JSON.stringify(m.pins)}`,
    });
  }
  // validateLock's cross-checks guarantee the entry exists for a lock read through lock.
  return { model, env, version, entry: m.versions[version] as LockedVersion };
}

/**
 * The model and version `env` pins in the lock file at `lockPath` (read
 * through the one schema, with its cross-checks). With no `model`, the lock
 * must hold exactly one model. Errors name the file, the model and the env.
 */
export async function readPinnedVersion(
  lockPath: string,
  env: string,
  model?: string,
): Promise<Pick<PinnedVersion, 'model' | 'version'>> {
  const lock = await readLock(lockPath);
  const pinned = pinnedVersion(lock, chooseModel(lock, model, lockPath), env, lockPath);
  return { model: pinned.model, version: pinned.version };
}

/**
 * The pin of one locked version: `version` when given, else the version
 * `env` pins. A local artifact URI is resolved against the lock file's
 * folder, as every reader of the lock does; the pin carries the lock's
 * digests and root digest, which the artifact reader checks every file
 * against (model/artifact fetchVerifiedArtifact). NOT_FOUND names the lock,
 * the model and the version or environment.
 */
export function lockedPin(
  lock: Lock,
  model: string,
  choice: { version: string } | { env: string },
  lockPath: string,
): ModelPin {
  let version: string;
  let entry: LockedVersion | undefined;
  if ('version' in choice) {
    version = choice.version;
    entry = lock.models[model]?.versions[version];
    if (!lock.models[model]) {
      throw new ProjectError('NOT_FOUND', `no model "${model}" in ${lockPath}`, { subject: model });
    }
    if (!entry) {
      const known = Object.keys(lock.models[model]?.versions ?? {}).sort();
      throw new ProjectError('NOT_FOUND', `${lockPath}: model "${model}" has no version "${version}"`, {
        subject: `models.${model}.versions.${version}`,
        hint: `name one of its versions (${known.join(', ') || 'none'}), or pick an environment's with --env`,
      });
    }
  } else {
    ({ version, entry } = pinnedVersion(lock, model, choice.env, lockPath));
  }
  const location = resolveArtifactLocation(entry.artifactUri, { baseDir: dirname(resolve(lockPath)) });
  return {
    name: model,
    version,
    uri: location.kind === 'local' ? location.dir : entry.artifactUri,
    digests: entry.digests,
    sha256: entry.rootDigest,
    ...(entry.signature ? { signature: entry.signature } : {}),
  };
}
