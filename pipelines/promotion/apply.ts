/**
 * Move a pin: the environment's model-pin.yaml (gitops) and `pins.<env>`
 * plus a promotion record in models.lock.json (lock), both or neither; the
 * record and the pin file carry the serving image too. The pin file is
 * written while the lock's exclusive lock file is held, before the lock is
 * written; if anything after that fails (the lock changed on disk, a write
 * error), the previous pin file is put back, byte for byte.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { renderPinPatch, writePin } from '../../gitops/index.ts';
import {
  type Lock,
  modelHistory,
  type PinInput,
  pinnedImage,
  pinVersion,
  type UpdateLockOptions,
  updateLock,
} from '../../lock/index.ts';
import { PIN_FILE } from '../../model/pin.ts';
import { writeFileAtomic } from '../../platform/fs.ts';

/** A pin move (lock PinInput) and the files it is written to. */
export interface ApplyPinInput extends PinInput {
  lockPath: string;
  /** environments/<env> */
  envDir: string;
}

export interface ApplyPinDeps {
  /** Writes the pin file (default gitops writePin); tests wrap it to fail on purpose. */
  writePin?: typeof writePin;
  lockOptions?: UpdateLockOptions;
  /**
   * Called with the lock as it is on disk now (under the lock file), before
   * anything is written; throwing refuses the move (re-check the gates).
   */
  check?: (lock: Lock) => void | Promise<void>;
  /**
   * Called with the new lock after the pin file is written and before the
   * lock is (e.g. render the environment); throwing puts the old pin back.
   */
  verifyPinned?: (lock: Lock) => Promise<void>;
}

export interface ApplyPinResult {
  /** The version pinned before, or null. */
  from: string | null;
  lockChanged: boolean;
  pinChanged: boolean;
  pinPath: string;
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Pin `env` of `model` to `version` in the lock and in `<envDir>/model-pin.yaml`.
 * Already pinned with the same pin file: nothing is written. Any error leaves
 * both files as they were.
 */
export async function applyPin(input: ApplyPinInput, deps: ApplyPinDeps = {}): Promise<ApplyPinResult> {
  const write = deps.writePin ?? writePin;
  const pinPath = join(input.envDir, PIN_FILE);
  const previous = await readOptional(pinPath);
  let pinWritten = false;
  let from: string | null = null;
  let pinChanged = false;
  try {
    const result = await updateLock(
      input.lockPath,
      async (lock) => {
        from = lock.models[input.model]?.pins[input.env] ?? null;
        const next = pinVersion(lock, input);
        await deps.check?.(lock);
        const entry = next.models[input.model]?.versions[input.version];
        if (!entry) throw new Error(`applyPin: version ${input.version} vanished`);
        // The image the environment runs after this move: the one given, else what its records say.
        const image = input.image ?? pinnedImage(next, input.model, input.env);
        const file = {
          model: input.model,
          version: input.version,
          entry,
          image,
          // For the model card: where each version runs, as of this move.
          history: modelHistory(next, input.model),
        };
        if (previous?.toString('utf8') !== renderPinPatch(file)) {
          pinWritten = true;
          pinChanged = true;
          await write(input.envDir, file);
        }
        if (pinChanged || lock !== next) await deps.verifyPinned?.(next);
        return next;
      },
      deps.lockOptions,
    );
    return { from, lockChanged: result.changed, pinChanged, pinPath };
  } catch (e) {
    if (pinWritten) {
      if (previous === undefined) await rm(pinPath, { force: true });
      else await writeFileAtomic(pinPath, previous);
    }
    throw e;
  }
}
