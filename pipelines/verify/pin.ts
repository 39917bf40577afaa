/**
 * The model version an environment is pinned to, read from models.lock.json
 * through lock (the one schema, with its cross-checks).
 */
import { chooseModel, pinnedVersion, readLock } from '../../lock/index.ts';

/** The pinned model of an environment. */
export interface PinnedModel {
  model: string;
  version: string;
}

/**
 * Read `models.<model>.pins.<env>` from a lock file. With no `model`, the lock
 * must hold exactly one model. Errors name the file, the model and the env.
 */
export async function readPinnedVersion(lockPath: string, env: string, model?: string): Promise<PinnedModel> {
  const lock = await readLock(lockPath);
  const pinned = pinnedVersion(lock, chooseModel(lock, model, lockPath), env, lockPath);
  return { model: pinned.model, version: pinned.version };
}
