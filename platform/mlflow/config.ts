import { ProjectError } from '../errors.ts';
import { compileValidator, setVariables } from '../schema.ts';
import { type HttpOptions, type MlflowAuth, splitCredentials } from './http.ts';
import type { RetryPolicy } from './retry.ts';

/** The MLflow connection, parsed once from the environment. */
export interface MlflowConfig {
  /** Base URL without credentials: safe to print. */
  trackingUri: string;
  auth?: MlflowAuth;
  retry: Partial<RetryPolicy>;
  timeoutMs?: number;
}

interface MlflowEnv {
  MLFLOW_TRACKING_URI?: string;
  MLFLOW_TRACKING_TOKEN?: string;
  MLFLOW_TRACKING_USERNAME?: string;
  MLFLOW_TRACKING_PASSWORD?: string;
  MLFLOW_HTTP_REQUEST_MAX_RETRIES?: string;
  MLFLOW_HTTP_REQUEST_TIMEOUT?: string;
}

const int = { type: 'string', pattern: '^[0-9]+$' };
const validateEnv = compileValidator<MlflowEnv>({
  type: 'object',
  properties: {
    MLFLOW_TRACKING_URI: { type: 'string' },
    MLFLOW_TRACKING_TOKEN: { type: 'string' },
    MLFLOW_TRACKING_USERNAME: { type: 'string' },
    MLFLOW_TRACKING_PASSWORD: { type: 'string' },
    MLFLOW_HTTP_REQUEST_MAX_RETRIES: int,
    MLFLOW_HTTP_REQUEST_TIMEOUT: int,
  },
});

const KEYS = [
  'MLFLOW_TRACKING_URI',
  'MLFLOW_TRACKING_TOKEN',
  'MLFLOW_TRACKING_USERNAME',
  'MLFLOW_TRACKING_PASSWORD',
  'MLFLOW_HTTP_REQUEST_MAX_RETRIES',
  'MLFLOW_HTTP_REQUEST_TIMEOUT',
] as const;

/**
 * Read MLflow's own environment variables (the names the Python client uses):
 * MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN (bearer) or
 * MLFLOW_TRACKING_USERNAME/PASSWORD (basic), MLFLOW_HTTP_REQUEST_MAX_RETRIES,
 * MLFLOW_HTTP_REQUEST_TIMEOUT (seconds). Returns undefined when no tracking
 * URI is set (the caller then uses the local run store). `trackingUri`
 * overrides the environment's URI (a --tracking-uri flag).
 * @see https://mlflow.org/docs/latest/ml/auth/#using-environment-variables
 */
export function mlflowConfigFromEnv(
  env: Record<string, string | undefined>,
  trackingUri?: string,
): MlflowConfig | undefined {
  const e = validateEnv(setVariables(env, KEYS), 'MLflow environment variables');
  const uri = trackingUri ?? e.MLFLOW_TRACKING_URI;
  if (!uri) return undefined;
  const split = splitCredentials(uri);
  let auth: MlflowAuth | undefined = split.auth;
  if (e.MLFLOW_TRACKING_TOKEN) {
    auth = { kind: 'bearer', token: e.MLFLOW_TRACKING_TOKEN };
  } else if (e.MLFLOW_TRACKING_USERNAME || e.MLFLOW_TRACKING_PASSWORD) {
    if (!e.MLFLOW_TRACKING_USERNAME || !e.MLFLOW_TRACKING_PASSWORD) {
      throw new ProjectError(
        'INVALID',
        'MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set together',
        {
          subject: 'MLFLOW_TRACKING_USERNAME',
          hint: 'set both, or use MLFLOW_TRACKING_TOKEN',
        },
      );
    }
    auth = { kind: 'basic', username: e.MLFLOW_TRACKING_USERNAME, password: e.MLFLOW_TRACKING_PASSWORD };
  }
  const retry: Partial<RetryPolicy> = {};
  if (e.MLFLOW_HTTP_REQUEST_MAX_RETRIES) retry.maxRetries = Number(e.MLFLOW_HTTP_REQUEST_MAX_RETRIES);
  return {
    trackingUri: split.url,
    auth,
    retry,
    timeoutMs: e.MLFLOW_HTTP_REQUEST_TIMEOUT ? Number(e.MLFLOW_HTTP_REQUEST_TIMEOUT) * 1000 : undefined,
  };
}

/** HttpOptions for {@link MlflowClient} from a config plus injected side effects. */
export function httpOptionsOf(
  config: MlflowConfig,
  extra: Omit<HttpOptions, 'baseUrl' | 'auth'> = {},
): HttpOptions {
  return {
    baseUrl: config.trackingUri,
    auth: config.auth,
    timeoutMs: config.timeoutMs,
    ...extra,
    retry: { ...config.retry, ...extra.retry },
  };
}
