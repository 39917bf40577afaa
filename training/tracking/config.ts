import { resolve } from 'node:path';
import {
  type HttpOptions,
  httpOptionsOf,
  MlflowClient,
  mlflowConfigFromEnv,
} from '../../platform/mlflow/index.ts';
import { DEFAULT_LOCAL_STORE, LocalRunStore } from './local-store.ts';
import { RunRecorder } from './recorder.ts';
import { LocalSink, MlflowSink } from './sinks.ts';

export interface TrackingEnvOptions {
  env: Record<string, string | undefined>;
  /** Base for the default store folder. */
  cwd: string;
  /** Local store folder (default `<cwd>/mlruns-local`, or TRACKING_LOCAL_STORE). */
  localStore?: string;
  log?: (line: string) => void;
  /** Test hooks for the HTTP layer (short retry delays, fake fetch). */
  http?: Omit<HttpOptions, 'baseUrl' | 'auth'>;
}

/**
 * The run recorder chosen from the environment, once, at the edge: an MLflow
 * run when MLFLOW_TRACKING_URI is set (with the local store as offline
 * buffer), otherwise a local-store run.
 */
export function recorderFromEnv(options: TrackingEnvOptions): {
  recorder: RunRecorder;
  store: LocalRunStore;
  trackingUri?: string;
} {
  const store = new LocalRunStore(
    resolve(options.cwd, options.localStore ?? options.env.TRACKING_LOCAL_STORE ?? DEFAULT_LOCAL_STORE),
  );
  const config = mlflowConfigFromEnv(options.env);
  if (!config) {
    return { recorder: new RunRecorder({ primary: new LocalSink(store), log: options.log }), store };
  }
  const log = options.log ?? ((l: string) => console.error(l));
  const client = new MlflowClient(
    httpOptionsOf(config, {
      onRetry: (r) => log(`MLflow: ${r.reason}; retry ${r.attempt} in ${r.delayMs} ms (${r.url})`),
      ...options.http,
    }),
  );
  return {
    recorder: new RunRecorder({ primary: new MlflowSink(client), fallbackStore: store, log }),
    store,
    trackingUri: config.trackingUri,
  };
}
