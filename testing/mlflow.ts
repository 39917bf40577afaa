/**
 * Test-only: start a real MLflow tracking server on a loopback port, with a
 * SQLite backend store and an artifact root served through the server's
 * artifact proxy (a local folder, or `s3://<bucket>/mlflow` in the object
 * store of testing/object-store.ts), from the cached venv that
 * scripts/setup.d/30-mlflow.sh installs. A test file gates its tests with
 * `needs(mlflowInstalled())` (testing/services.ts): skipped with the
 * reason outside CI, a failure with CI=true; a server that does not start is
 * a failure.
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/tracking-server/
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectStoreServer } from './object-store.ts';
import { freePort } from './ports.ts';
import { type ServiceProcess, startServiceProcess } from './service-process.ts';
import { type Requirement, requirement } from './services.ts';

/** The MLflow version scripts/setup.d/30-mlflow.sh pins. */
export const MLFLOW_VERSION = '3.17.2';
/** The boto3 version scripts/setup.d/30-mlflow.sh pins (MLflow's s3:// artifact repository). */
export const BOTO3_VERSION = '1.44.18';

/** The venv folder: GITOPS_ML_MLFLOW_VENV, or the cache path the setup step uses. */
export function mlflowVenv(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GITOPS_ML_MLFLOW_VENV) return env.GITOPS_ML_MLFLOW_VENV;
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'gitops-ml', `mlflow-${MLFLOW_VERSION}-boto3-${BOTO3_VERSION}`);
}

/** The MLflow venv, as tests need it: `needs(mlflowInstalled())`. Its `path` is the venv folder. */
export function mlflowInstalled(): Requirement {
  const venv = mlflowVenv();
  return requirement(
    `MLflow ${MLFLOW_VERSION}`,
    existsSync(join(venv, 'bin', 'mlflow')) ? venv : undefined,
    `run bash scripts/setup.d/30-mlflow.sh (installs into ${venv})`,
  );
}

export interface MlflowServer {
  /** http://127.0.0.1:<port> */
  uri: string;
  port: number;
  /** The temp folder holding mlflow.db and (without an object store) artifacts/. */
  dir: string;
  /** Where the server keeps artifacts: the local folder, or `s3://<bucket>/mlflow`. */
  artifactsDestination: string;
  venv: string;
  /** Stop the server process (the data stays); {@link start} brings it back on the same port. */
  stop(): Promise<void>;
  /** Start it again on the same port and data. */
  start(): Promise<void>;
  /** Stop and delete the temp folder. */
  close(): Promise<void>;
}

/**
 * Start a real MLflow server; throws when the venv is missing (gate the tests
 * with `needs(mlflowInstalled())`). With `objectStore`, the artifacts go to
 * `s3://<its first bucket>/mlflow` (`--artifacts-destination`), and the
 * server gets the store's endpoint and credentials the way boto3 reads them
 * (MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
 * @see https://mlflow.org/docs/latest/self-hosting/architecture/artifact-store/#amazon-s3-and-s3-compatible-storage
 */
export async function startMlflow(
  options: { timeoutMs?: number; objectStore?: ObjectStoreServer } = {},
): Promise<MlflowServer> {
  const venv = mlflowInstalled().path;
  const dir = await mkdtemp(join(tmpdir(), 'mlflow-server-'));
  const store = options.objectStore;
  const artifactsDestination = store ? `s3://${store.buckets[0]}/mlflow` : join(dir, 'artifacts');
  const storeEnv: NodeJS.ProcessEnv = store
    ? {
        MLFLOW_S3_ENDPOINT_URL: store.endpoint,
        AWS_ACCESS_KEY_ID: store.config.credentials?.accessKeyId,
        AWS_SECRET_ACCESS_KEY: store.config.credentials?.secretAccessKey,
        AWS_DEFAULT_REGION: store.config.region,
      }
    : {};
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  let proc: ServiceProcess | undefined;

  const start = async () => {
    proc = await startServiceProcess({
      name: 'mlflow server',
      command: join(venv, 'bin', 'mlflow'),
      args: [
        'server',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        '1',
        '--backend-store-uri',
        `sqlite:///${join(dir, 'mlflow.db')}`,
        '--artifacts-destination',
        artifactsDestination,
      ],
      cwd: dir,
      env: { ...process.env, MLFLOW_TRACKING_URI: '', PYTHONUNBUFFERED: '1', ...storeEnv },
      healthUrl: `${uri}/health`,
      timeoutMs: options.timeoutMs ?? 240_000,
    });
  };

  const stop = async () => {
    const p = proc;
    proc = undefined;
    await p?.stop();
  };

  try {
    await start();
  } catch (e) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    uri,
    port,
    dir,
    artifactsDestination,
    venv,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
