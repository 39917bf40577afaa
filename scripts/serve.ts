/**
 * `npm run serve`: the inference server for local use. With
 * SERVING_LOCK_FILE + SERVING_ENVIRONMENT the pin comes from
 * models.lock.json (`models.<name>.pins.<env>` → `versions.<v>`, read
 * through lock/), with the model's history for the page; otherwise from the
 * SERVING_MODEL_* variables, as in the image (serving/main.ts, which never
 * reads the lock). Configuration: docs/serving.md.
 */
import { chooseModel, type Lock, lockedPin, modelHistory, readLockFrom } from '../lock/index.ts';
import {
  type FileTree,
  fileTree,
  isMain,
  isProjectError,
  ProjectError,
  parseCommand,
  runMain,
} from '../platform/index.ts';
import type { ResolvedPin, ServingEnv } from '../serving/config.ts';
import { start } from '../serving/run.ts';

/** What the command accepts (no flags: it is configured by SERVING_*); its help is generated from this. */
const COMMAND = {
  run: 'npm run serve --',
  summary: `The inference server for local use. With SERVING_LOCK_FILE and
SERVING_ENVIRONMENT the pin comes from models.lock.json
(models.<name>.pins.<env> → versions.<v>, read through lock/), with the model's
history for the page; otherwise from the SERVING_MODEL_* variables, as in the
image (serving/main.ts, which never reads the lock). Serves until SIGTERM or
SIGINT.`,
  options: {},
  notes: `environment (every SERVING_* variable and its default: docs/serving.md):
  SERVING_LOCK_FILE      the lock file to take the pin from (a relative file: URI
                         is resolved against its folder)
  SERVING_ENVIRONMENT    whose pin (dev, staging, prod): needed with SERVING_LOCK_FILE
  SERVING_MODEL_NAME     the model, when the lock has several
  SERVING_MODEL_VERSION  with the lock: this version instead of the environment's pin
  SERVING_MODEL_*        without the lock: the pin itself (_NAME, _VERSION, _URI,
                         _DIGESTS, _SHA256)
  SERVING_HOST, SERVING_PORT  where it listens (default: 0.0.0.0, 8080)

It logs JSON lines to stdout (a terminal gets them pretty-printed); the "ready"
line carries its URL.`,
  exit: {
    0: 'stopped by SIGTERM or SIGINT, in-flight requests answered',
    1: 'start-up failed (a digest mismatch, an unreadable lock...): the log says why',
  },
} as const;

/** Read the lock file, naming SERVING_LOCK_FILE when it is not there. */
async function readServedLock(file: string, source: FileTree): Promise<Lock> {
  try {
    return await readLockFrom(source, file);
  } catch (e) {
    if (isProjectError(e) && e.code === 'NOT_FOUND') {
      throw new ProjectError('NOT_FOUND', `cannot read lock file ${file}: ${e.message}`, {
        subject: file,
        hint: 'point SERVING_LOCK_FILE at models.lock.json',
        cause: e,
      });
    }
    throw e;
  }
}

/**
 * The version `SERVING_ENVIRONMENT` pins in the lock file (or
 * SERVING_MODEL_VERSION, when set), read through lock (the one schema, with
 * its cross-checks: the root digest adds up, the pin names a version that
 * exists). A local artifact URI is resolved against the lock file's folder,
 * as every other reader of the lock does.
 */
export async function pinFromLock(env: ServingEnv, source: FileTree = fileTree): Promise<ResolvedPin> {
  const file = env.SERVING_LOCK_FILE!;
  if (!env.SERVING_ENVIRONMENT) {
    throw new ProjectError('USAGE', 'SERVING_LOCK_FILE is set but SERVING_ENVIRONMENT is not', {
      subject: 'SERVING_*',
      hint: 'set SERVING_ENVIRONMENT=dev (or staging, prod)',
    });
  }
  const lock = await readServedLock(file, source);
  const name = chooseModel(lock, env.SERVING_MODEL_NAME, file);
  return {
    pin: lockedPin(
      lock,
      name,
      env.SERVING_MODEL_VERSION ? { version: env.SERVING_MODEL_VERSION } : { env: env.SERVING_ENVIRONMENT },
      file,
    ),
    history: modelHistory(lock, name),
  };
}

if (isMain(import.meta.url)) {
  // The flags are parsed (--help; anything else is bad usage) before the server starts; it sets its own exit code.
  await runMain(async () => {
    if (parseCommand(process.argv.slice(2), COMMAND)) start({ pinFromLock: (env) => pinFromLock(env) });
    return undefined;
  });
}
