/**
 * The serving configuration, parsed once at the edge from `SERVING_*`
 * environment variables (docs/contracts.md, "Serving configuration") into one
 * typed object validated by ajv. Code below receives this object and never
 * reads `process.env`.
 *
 * The model version comes from the pin written into the Deployment
 * (`SERVING_MODEL_NAME`, `_VERSION`, `_URI`, `_DIGESTS`, `_SHA256`, read by
 * model/pin.ts pinFromEnv). For local use, `npm run serve` (scripts/serve.ts)
 * reads it from `models.lock.json` instead (`SERVING_LOCK_FILE` +
 * `SERVING_ENVIRONMENT`) and passes it in as
 * {@link LoadConfigOptions.pinFromLock}: serving/ itself never reads the lock.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { BackendName } from '../model/backend.ts';
import { type ModelHistory, validateModelHistory } from '../model/history.ts';
import { DEFAULT_MAX_JPEG_SCANS } from '../model/images.ts';
import { type ModelPin, pinEnvProperties, pinFromEnv } from '../model/pin.ts';
import { parseSigningPolicy, type SigningPolicy } from '../model/signing/policy.ts';
import {
  compileValidator,
  isProjectError,
  ProjectError,
  parseJsonText,
  setVariables,
} from '../platform/index.ts';
import { type MlflowConfig, mlflowConfigFromEnv } from '../platform/mlflow/index.ts';
import { type ObjectStoreConfig, objectStoreConfigFromEnv } from '../platform/object-store/config.ts';
import type { CaptureConfig } from './capture.ts';
import { type DriftConfig, driftConfigFromEnv } from './drift/config.ts';
import type { FeedbackConfig } from './feedback.ts';
import type { ShadowConfig } from './shadow.ts';

export interface ServingConfig {
  /** The one model version this process serves (model/pin.ts). */
  model: ModelPin;
  host: string;
  port: number;
  /** Force one tfjs backend (SERVING_BACKEND); default: fastest that loads. */
  backend?: BackendName;
  batching: { maxBatchSize: number; maxWaitMs: number; queueCapacity: number };
  /** Where inference runs (SERVING_INFERENCE_THREAD): a worker thread (default) or the main thread. */
  inferenceThread: 'worker' | 'main';
  /** How the model runs (SERVING_MODEL_EXECUTION): one TensorFlow graph call per batch (default, native backend), or the layers op by op. */
  execution: 'graph' | 'layers';
  limits: {
    maxBodyBytes: number;
    /** Bytes of request bodies being read or held at once across requests; past it, 503 with Retry-After. */
    maxBodyBytesInFlight: number;
    /** Pixels of one image (width*height, from its header). */
    maxPixels: number;
    maxImagesPerRequest: number;
    /** Pixels of all images of one request together. */
    maxRequestPixels: number;
    /** Pixels being decoded at once across requests; past it, 503 with Retry-After. */
    maxPixelsInFlight: number;
    /** Scans of one JPEG (a progressive JPEG has about 10). */
    maxJpegScans: number;
  };
  /** Node http.Server limits (serving/server.ts listen); docs/serving.md "Limits". */
  http: {
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    maxHeaderBytes: number;
  };
  /** Default k of top-k answers. */
  topK: number;
  /** Folder of demo images offered by the web page (PNG/JPEG); default `<artifact>/samples`. */
  samplesDir?: string;
  /** How long SIGTERM waits for in-flight requests before closing connections. */
  shutdownTimeoutMs: number;
  /** MLflow connection for `mlflow-artifacts:/` URIs. */
  mlflow?: MlflowConfig;
  /** The object store (OBJECT_STORE_*, AWS_*: platform/object-store), for `s3://` model URIs. */
  objectStore?: ObjectStoreConfig;
  /** Online drift (`SERVING_DRIFT_*`, docs/drift.md); default: on, with the defaults there. */
  drift?: DriftConfig;
  /** Ground-truth feedback (`SERVING_FEEDBACK_*`, serving/feedback.ts); default: on. */
  feedback: FeedbackConfig;
  /**
   * Payload capture (`SERVING_CAPTURE_*`, serving/capture.ts): off (sample 0)
   * unless the object store with its bucket is configured.
   */
  capture: CaptureConfig;
  /**
   * Behind a proxy that sets X-Forwarded-For (an ingress controller: SERVING_TRUST_PROXY=true),
   * a client is the address that proxy saw (its last entry), not the proxy's own.
   */
  trustProxy: boolean;
  /** Shadow traffic (`SERVING_SHADOW_*`, serving/shadow.ts): set when SERVING_SHADOW_URL is. */
  shadow?: ShadowConfig;
  /** This replica's name in captured and feedback objects: HOSTNAME (the pod's name), made key-safe. */
  pod: string;
  /**
   * Where each version of the model runs and its promotions, for the page
   * (the model card): from SERVING_MODEL_HISTORY_FILE (written by the
   * promotion), or with the pin from the lock (`npm run serve`); absent otherwise.
   */
  history?: ModelHistory;
  /**
   * Who may have signed the model (SERVING_SIGNING_POLICY, the signing policy
   * in Git that manifests/base mounts): the model is loaded only when its
   * signature (SERVING_MODEL_SIGNATURE) verifies against it. Unset (a local
   * `npm run serve` of your own artifact): the signature is not checked, and
   * the start-up log says so.
   */
  signing?: { policy: SigningPolicy; trustedRootFile?: string };
}

/** The environment variables read, all strings (as the environment gives them). */
export interface ServingEnv {
  SERVING_MODEL_NAME?: string;
  SERVING_MODEL_VERSION?: string;
  SERVING_MODEL_URI?: string;
  SERVING_MODEL_DIGESTS?: string;
  SERVING_MODEL_SHA256?: string;
  SERVING_LOCK_FILE?: string;
  SERVING_ENVIRONMENT?: string;
  SERVING_HOST?: string;
  SERVING_PORT?: string;
  SERVING_BACKEND?: string;
  SERVING_MAX_BATCH_SIZE?: string;
  SERVING_MAX_WAIT_MS?: string;
  SERVING_QUEUE_CAPACITY?: string;
  SERVING_INFERENCE_THREAD?: string;
  SERVING_MODEL_EXECUTION?: string;
  SERVING_MAX_BODY_BYTES?: string;
  SERVING_MAX_BODY_BYTES_IN_FLIGHT?: string;
  SERVING_MAX_PIXELS?: string;
  SERVING_MAX_IMAGES_PER_REQUEST?: string;
  SERVING_TOP_K?: string;
  SERVING_SAMPLES_DIR?: string;
  SERVING_SHUTDOWN_TIMEOUT_MS?: string;
  SERVING_MAX_REQUEST_PIXELS?: string;
  SERVING_MAX_PIXELS_IN_FLIGHT?: string;
  SERVING_MAX_JPEG_SCANS?: string;
  SERVING_REQUEST_TIMEOUT_MS?: string;
  SERVING_HEADERS_TIMEOUT_MS?: string;
  SERVING_KEEP_ALIVE_TIMEOUT_MS?: string;
  SERVING_MAX_CONNECTIONS?: string;
  SERVING_MAX_HEADER_BYTES?: string;
  SERVING_FEEDBACK_CAPACITY?: string;
  SERVING_FEEDBACK_MAX_BYTES?: string;
  SERVING_FEEDBACK_TTL_SECONDS?: string;
  SERVING_FEEDBACK_WINDOW?: string;
  SERVING_FEEDBACK_EXPORT_TOKEN?: string;
  SERVING_FEEDBACK_TOKEN?: string;
  SERVING_ID_KEY?: string;
  SERVING_ID_KEY_PREVIOUS?: string;
  SERVING_CAPTURE_SAMPLE?: string;
  SERVING_CAPTURE_MAX_IMAGE_BYTES?: string;
  SERVING_CAPTURE_QUEUE_BYTES?: string;
  SERVING_CAPTURE_FLUSH_MS?: string;
  SERVING_MODEL_HISTORY_FILE?: string;
  SERVING_FEEDBACK_RATE_PER_MINUTE?: string;
  SERVING_TRUST_PROXY?: string;
  SERVING_SHADOW_URL?: string;
  SERVING_SHADOW_SAMPLE?: string;
  SERVING_SHADOW_MAX_IN_FLIGHT?: string;
  SERVING_SHADOW_TIMEOUT_MS?: string;
  SERVING_MODEL_SIGNATURE?: string;
  SERVING_SIGNING_POLICY?: string;
  SERVING_SIGSTORE_TRUSTED_ROOT?: string;
}

/** Integer variables: digits only (ajv), then their range (checkRanges). */
const INT_RANGES: Partial<Record<keyof ServingEnv, [number, number]>> = {};
const intProp = (key: keyof ServingEnv, min: number, max: number) => {
  INT_RANGES[key] = [min, max];
  return { type: 'string', pattern: '^[0-9]+$' };
};
const nonEmpty = { type: 'string', minLength: 1 };

const validateEnv = compileValidator<ServingEnv>({
  type: 'object',
  properties: {
    ...pinEnvProperties,
    SERVING_LOCK_FILE: nonEmpty,
    SERVING_ENVIRONMENT: { type: 'string', pattern: '^[a-z0-9-]+$' },
    SERVING_HOST: nonEmpty,
    SERVING_PORT: intProp('SERVING_PORT', 0, 65535),
    SERVING_BACKEND: { enum: ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] },
    SERVING_MAX_BATCH_SIZE: intProp('SERVING_MAX_BATCH_SIZE', 1, 1024),
    SERVING_MAX_WAIT_MS: intProp('SERVING_MAX_WAIT_MS', 0, 1000),
    SERVING_QUEUE_CAPACITY: intProp('SERVING_QUEUE_CAPACITY', 1, 100_000),
    SERVING_INFERENCE_THREAD: { enum: ['worker', 'main'] },
    SERVING_MODEL_EXECUTION: { enum: ['graph', 'layers'] },
    SERVING_MAX_BODY_BYTES: intProp('SERVING_MAX_BODY_BYTES', 1, 1024 * 1024 * 1024),
    SERVING_MAX_BODY_BYTES_IN_FLIGHT: intProp('SERVING_MAX_BODY_BYTES_IN_FLIGHT', 1, 16 * 1024 * 1024 * 1024),
    SERVING_MAX_PIXELS: intProp('SERVING_MAX_PIXELS', 1, 100_000_000),
    SERVING_MAX_IMAGES_PER_REQUEST: intProp('SERVING_MAX_IMAGES_PER_REQUEST', 1, 1024),
    SERVING_TOP_K: intProp('SERVING_TOP_K', 1, 1000),
    SERVING_SAMPLES_DIR: nonEmpty,
    SERVING_SHUTDOWN_TIMEOUT_MS: intProp('SERVING_SHUTDOWN_TIMEOUT_MS', 0, 600_000),
    SERVING_MAX_REQUEST_PIXELS: intProp('SERVING_MAX_REQUEST_PIXELS', 1, 1_000_000_000),
    SERVING_MAX_PIXELS_IN_FLIGHT: intProp('SERVING_MAX_PIXELS_IN_FLIGHT', 1, 1_000_000_000),
    SERVING_MAX_JPEG_SCANS: intProp('SERVING_MAX_JPEG_SCANS', 1, 10_000),
    SERVING_REQUEST_TIMEOUT_MS: intProp('SERVING_REQUEST_TIMEOUT_MS', 100, 3_600_000),
    SERVING_HEADERS_TIMEOUT_MS: intProp('SERVING_HEADERS_TIMEOUT_MS', 100, 3_600_000),
    SERVING_KEEP_ALIVE_TIMEOUT_MS: intProp('SERVING_KEEP_ALIVE_TIMEOUT_MS', 0, 3_600_000),
    SERVING_MAX_CONNECTIONS: intProp('SERVING_MAX_CONNECTIONS', 1, 1_000_000),
    SERVING_MAX_HEADER_BYTES: intProp('SERVING_MAX_HEADER_BYTES', 1024, 1024 * 1024),
    SERVING_FEEDBACK_CAPACITY: intProp('SERVING_FEEDBACK_CAPACITY', 0, 1_000_000),
    SERVING_FEEDBACK_MAX_BYTES: intProp('SERVING_FEEDBACK_MAX_BYTES', 0, 4 * 1024 * 1024 * 1024),
    SERVING_FEEDBACK_TTL_SECONDS: intProp('SERVING_FEEDBACK_TTL_SECONDS', 1, 30 * 86_400),
    SERVING_FEEDBACK_WINDOW: intProp('SERVING_FEEDBACK_WINDOW', 1, 1_000_000),
    // A bearer token: long enough that it is not guessed.
    SERVING_FEEDBACK_EXPORT_TOKEN: { type: 'string', minLength: 16 },
    SERVING_FEEDBACK_TOKEN: { type: 'string', minLength: 16 },
    // HMAC keys: 32 bytes or more, as RFC 2104 advises for SHA-256.
    SERVING_ID_KEY: { type: 'string', minLength: 32 },
    SERVING_ID_KEY_PREVIOUS: { type: 'string', minLength: 32 },
    SERVING_CAPTURE_SAMPLE: { type: 'string', pattern: '^(0(\\.[0-9]+)?|1(\\.0+)?)$' },
    SERVING_CAPTURE_MAX_IMAGE_BYTES: intProp('SERVING_CAPTURE_MAX_IMAGE_BYTES', 0, 64 * 1024 * 1024),
    SERVING_CAPTURE_QUEUE_BYTES: intProp('SERVING_CAPTURE_QUEUE_BYTES', 1024, 4 * 1024 * 1024 * 1024),
    SERVING_CAPTURE_FLUSH_MS: intProp('SERVING_CAPTURE_FLUSH_MS', 10, 600_000),
    SERVING_MODEL_HISTORY_FILE: nonEmpty,
    SERVING_FEEDBACK_RATE_PER_MINUTE: intProp('SERVING_FEEDBACK_RATE_PER_MINUTE', 0, 1_000_000),
    SERVING_TRUST_PROXY: { enum: ['true', 'false'] },
    SERVING_SHADOW_URL: { type: 'string', pattern: '^https?://[^/?#]+/?$' },
    SERVING_SHADOW_SAMPLE: { type: 'string', pattern: '^(0(\\.[0-9]+)?|1(\\.0+)?)$' },
    SERVING_SHADOW_MAX_IN_FLIGHT: intProp('SERVING_SHADOW_MAX_IN_FLIGHT', 1, 1024),
    SERVING_SHADOW_TIMEOUT_MS: intProp('SERVING_SHADOW_TIMEOUT_MS', 100, 600_000),
    SERVING_MODEL_SIGNATURE: nonEmpty,
    SERVING_SIGNING_POLICY: nonEmpty,
    SERVING_SIGSTORE_TRUSTED_ROOT: nonEmpty,
  },
});

/** A name safe in an object key: HOSTNAME's characters outside [A-Za-z0-9._-] become "_". */
function podName(host: string): string {
  return host.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 63) || 'server';
}

const VARIABLES_HINT = 'each SERVING_* variable and the values it takes: docs/serving.md';

/** Bad configuration: the server exits 2 (serving/run.ts). */
function usage(message: string, hint: string): ProjectError {
  return new ProjectError('USAGE', message, { subject: 'SERVING_*', hint });
}

function checkRanges(env: ServingEnv): void {
  const bad: string[] = [];
  for (const [key, range] of Object.entries(INT_RANGES)) {
    const [min, max] = range;
    const raw = env[key as keyof ServingEnv];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (n < min || n > max) bad.push(`  - /${key}: ${raw} is out of range ${min}..${max}`);
  }
  if (bad.length) throw usage(`serving environment is invalid:\n${bad.join('\n')}`, VARIABLES_HINT);
}

/** Limits that only make sense together (Node refuses headersTimeout > requestTimeout). */
function checkRelations(c: ServingConfig): void {
  const bad: string[] = [];
  const { limits, http } = c;
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    bad.push(
      `  - SERVING_HEADERS_TIMEOUT_MS ${http.headersTimeoutMs} is over SERVING_REQUEST_TIMEOUT_MS ${http.requestTimeoutMs} (the headers are part of the request)`,
    );
  }
  if (limits.maxRequestPixels < limits.maxPixels) {
    bad.push(
      `  - SERVING_MAX_REQUEST_PIXELS ${limits.maxRequestPixels} is under SERVING_MAX_PIXELS ${limits.maxPixels} (one image of the largest size must fit in a request)`,
    );
  }
  if (limits.maxBodyBytesInFlight < limits.maxBodyBytes) {
    bad.push(
      `  - SERVING_MAX_BODY_BYTES_IN_FLIGHT ${limits.maxBodyBytesInFlight} is under SERVING_MAX_BODY_BYTES ${limits.maxBodyBytes} (one body of the largest size must fit)`,
    );
  }
  if (limits.maxPixelsInFlight < limits.maxRequestPixels) {
    bad.push(
      `  - SERVING_MAX_PIXELS_IN_FLIGHT ${limits.maxPixelsInFlight} is under SERVING_MAX_REQUEST_PIXELS ${limits.maxRequestPixels} (one request of the largest size must fit)`,
    );
  }
  if (bad.length) throw usage(`serving environment is invalid:\n${bad.join('\n')}`, VARIABLES_HINT);
}

/** A file a variable names, read; NOT_FOUND naming the variable when it cannot be. */
async function readConfigFile(
  file: string,
  variable: string,
  readText: (p: string) => Promise<string>,
): Promise<string> {
  try {
    return await readText(file);
  } catch (e) {
    throw new ProjectError('NOT_FOUND', `${variable} ${file} cannot be read: ${(e as Error).message}`, {
      subject: variable,
      cause: e,
    });
  }
}

/**
 * SERVING_SIGNING_POLICY: the policy's JSON itself (as manifests/base's
 * ConfigMap sets it) or the path of a file holding it.
 */
async function signingPolicyFromEnv(
  value: string,
  readText: (p: string) => Promise<string>,
): Promise<SigningPolicy> {
  const inline = value.trimStart().startsWith('{');
  const source = inline ? 'SERVING_SIGNING_POLICY' : value;
  const text = inline ? value : await readConfigFile(value, 'SERVING_SIGNING_POLICY', readText);
  return parseSigningPolicy(parseJsonText(text, source), source);
}

/** The model history file of a pinned deployment (SERVING_MODEL_HISTORY_FILE), validated. */
async function historyFromFile(
  file: string,
  readText: (p: string) => Promise<string>,
): Promise<ModelHistory | undefined> {
  const text = await readConfigFile(file, 'SERVING_MODEL_HISTORY_FILE', readText);
  // A pod from a pin written before the ml.gitops/model-history annotation
  // existed: the Downward API projects the missing annotation as an empty file.
  if (text.trim() === '') return undefined;
  return validateModelHistory(parseJsonText(text, file), file);
}

/** A pin from elsewhere than the SERVING_MODEL_* variables, with the model's history. */
export interface ResolvedPin {
  pin: ModelPin;
  history?: ModelHistory;
}

export interface LoadConfigOptions {
  /** Reads SERVING_MODEL_HISTORY_FILE (default fs.readFile utf8). */
  readText?: (path: string) => Promise<string>;
  /**
   * The pin of SERVING_LOCK_FILE + SERVING_ENVIRONMENT, called with the
   * validated environment: `npm run serve` (scripts/serve.ts) reads it from
   * the lock. Without it (the image's serving/main.ts) SERVING_LOCK_FILE is
   * refused.
   */
  pinFromLock?: (env: ServingEnv) => Promise<ResolvedPin>;
}

/** The pin: from the lock when SERVING_LOCK_FILE is set (through `pinFromLock`), else the SERVING_MODEL_* variables. */
async function resolvePin(env: ServingEnv, opts: LoadConfigOptions): Promise<ResolvedPin> {
  if (env.SERVING_LOCK_FILE === undefined) return { pin: pinFromEnv(env) };
  if (env.SERVING_MODEL_URI) {
    throw usage(
      'both SERVING_LOCK_FILE and SERVING_MODEL_URI are set',
      'set either the SERVING_MODEL_* pin or SERVING_LOCK_FILE + SERVING_ENVIRONMENT, not both',
    );
  }
  if (!opts.pinFromLock) {
    throw usage(
      'SERVING_LOCK_FILE is read by `npm run serve` (scripts/serve.ts), not by the server image (serving/main.ts)',
      'set the SERVING_MODEL_* pin, as environments/<env>/model-pin.yaml does, or start the server with npm run serve',
    );
  }
  return opts.pinFromLock(env);
}

/** A numeric variable, or its default when unset. */
const num = (v: string | undefined, dflt: number): number => (v === undefined ? dflt : Number(v));

/** The request and decoding limits (docs/serving.md "Limits"), each with its default. */
function limitsFromEnv(env: ServingEnv): ServingConfig['limits'] {
  const maxPixels = num(env.SERVING_MAX_PIXELS, 2048 * 2048);
  const maxBodyBytes = num(env.SERVING_MAX_BODY_BYTES, 8 * 1024 * 1024);
  // Four images of the largest size per request, two such requests decoding at once.
  const maxRequestPixels = num(env.SERVING_MAX_REQUEST_PIXELS, Math.max(4 * 2048 * 2048, maxPixels));
  return {
    maxBodyBytes,
    maxBodyBytesInFlight: num(
      env.SERVING_MAX_BODY_BYTES_IN_FLIGHT,
      Math.max(64 * 1024 * 1024, 2 * maxBodyBytes),
    ),
    maxPixels,
    maxImagesPerRequest: num(env.SERVING_MAX_IMAGES_PER_REQUEST, 64),
    maxRequestPixels,
    maxPixelsInFlight: num(env.SERVING_MAX_PIXELS_IN_FLIGHT, Math.max(8 * 2048 * 2048, 2 * maxRequestPixels)),
    maxJpegScans: num(env.SERVING_MAX_JPEG_SCANS, DEFAULT_MAX_JPEG_SCANS),
  };
}

/** Feedback: what is kept of recent answers, the live-accuracy window, the tokens and the id keys. */
function feedbackFromEnv(env: ServingEnv): FeedbackConfig {
  return {
    capacity: num(env.SERVING_FEEDBACK_CAPACITY, 1000),
    maxBytes: num(env.SERVING_FEEDBACK_MAX_BYTES, 32 * 1024 * 1024),
    ttlMs: num(env.SERVING_FEEDBACK_TTL_SECONDS, 3600) * 1000,
    window: num(env.SERVING_FEEDBACK_WINDOW, 500),
    ...(env.SERVING_FEEDBACK_EXPORT_TOKEN ? { exportToken: env.SERVING_FEEDBACK_EXPORT_TOKEN } : {}),
    ...(env.SERVING_FEEDBACK_TOKEN ? { token: env.SERVING_FEEDBACK_TOKEN } : {}),
    ...(env.SERVING_ID_KEY ? { idKey: env.SERVING_ID_KEY } : {}),
    ...(env.SERVING_ID_KEY_PREVIOUS ? { idKeyPrevious: env.SERVING_ID_KEY_PREVIOUS } : {}),
    ratePerMinute: num(env.SERVING_FEEDBACK_RATE_PER_MINUTE, 120),
  };
}

/** Payload capture: its sample rate (0 without an object store bucket) and its bounds. */
function captureFromEnv(env: ServingEnv, objectStore: ObjectStoreConfig | undefined): CaptureConfig {
  return {
    // Off without a store and its bucket: there is nowhere to write.
    sample: objectStore?.bucket ? Number(env.SERVING_CAPTURE_SAMPLE ?? '0') : 0,
    maxImageBytes: num(env.SERVING_CAPTURE_MAX_IMAGE_BYTES, 1024 * 1024),
    maxQueueBytes: num(env.SERVING_CAPTURE_QUEUE_BYTES, 32 * 1024 * 1024),
    maxQueueRecords: 10_000,
    batchRecords: 500,
    flushMs: num(env.SERVING_CAPTURE_FLUSH_MS, 5000),
  };
}

/** Shadow traffic: where to mirror answers (SERVING_SHADOW_URL), how many, how long; undefined when off. */
function shadowFromEnv(env: ServingEnv): ShadowConfig | undefined {
  if (!env.SERVING_SHADOW_URL) return undefined;
  return {
    url: env.SERVING_SHADOW_URL,
    sample: Number(env.SERVING_SHADOW_SAMPLE ?? '1'),
    maxInFlight: num(env.SERVING_SHADOW_MAX_IN_FLIGHT, 8),
    timeoutMs: num(env.SERVING_SHADOW_TIMEOUT_MS, 5000),
  };
}

/**
 * Parse the serving configuration from an environment (pass `process.env`
 * only at the edge, in serving/main.ts). A SERVING_* variable that is not a
 * value it takes is USAGE (the process exits 2), naming every offending
 * variable; what the variables point to (the lock, the pin's digests, a file)
 * fails with its own code (INVALID, DIGEST_MISMATCH, NOT_FOUND: exit 1).
 */
export async function loadConfig(
  rawEnv: Record<string, string | undefined>,
  opts: LoadConfigOptions = {},
): Promise<ServingConfig> {
  let env: ServingEnv;
  try {
    env = validateEnv(
      setVariables(rawEnv, (k) => k.startsWith('SERVING_')),
      'serving environment',
    );
  } catch (e) {
    if (!isProjectError(e) || e.code !== 'INVALID') throw e;
    throw usage(e.message, VARIABLES_HINT);
  }
  checkRanges(env);
  const readText = opts.readText ?? ((p: string) => readFile(p, 'utf8'));
  const { pin: model, history: pinnedHistory } = await resolvePin(env, opts);
  const history = env.SERVING_MODEL_HISTORY_FILE
    ? await historyFromFile(env.SERVING_MODEL_HISTORY_FILE, readText)
    : pinnedHistory;
  const mlflow = mlflowConfigFromEnv(rawEnv);
  const objectStore = objectStoreConfigFromEnv(rawEnv);
  const shadow = shadowFromEnv(env);
  const config: ServingConfig = {
    model,
    host: env.SERVING_HOST ?? '0.0.0.0',
    port: num(env.SERVING_PORT, 8080),
    ...(env.SERVING_BACKEND ? { backend: env.SERVING_BACKEND as BackendName } : {}),
    batching: {
      maxBatchSize: num(env.SERVING_MAX_BATCH_SIZE, 32),
      maxWaitMs: num(env.SERVING_MAX_WAIT_MS, 5),
      queueCapacity: num(env.SERVING_QUEUE_CAPACITY, 256),
    },
    inferenceThread: env.SERVING_INFERENCE_THREAD === 'main' ? 'main' : 'worker',
    execution: env.SERVING_MODEL_EXECUTION === 'layers' ? 'layers' : 'graph',
    limits: limitsFromEnv(env),
    http: {
      requestTimeoutMs: num(env.SERVING_REQUEST_TIMEOUT_MS, 30_000),
      headersTimeoutMs: num(env.SERVING_HEADERS_TIMEOUT_MS, 10_000),
      keepAliveTimeoutMs: num(env.SERVING_KEEP_ALIVE_TIMEOUT_MS, 65_000),
      maxConnections: num(env.SERVING_MAX_CONNECTIONS, 1024),
      maxHeaderBytes: num(env.SERVING_MAX_HEADER_BYTES, 16 * 1024),
    },
    topK: num(env.SERVING_TOP_K, 3),
    ...(env.SERVING_SAMPLES_DIR ? { samplesDir: env.SERVING_SAMPLES_DIR } : {}),
    shutdownTimeoutMs: num(env.SERVING_SHUTDOWN_TIMEOUT_MS, 25_000),
    ...(mlflow ? { mlflow } : {}),
    ...(objectStore ? { objectStore } : {}),
    drift: driftConfigFromEnv(rawEnv),
    feedback: feedbackFromEnv(env),
    capture: captureFromEnv(env, objectStore),
    trustProxy: env.SERVING_TRUST_PROXY === 'true',
    ...(shadow ? { shadow } : {}),
    pod: podName(rawEnv.HOSTNAME ?? hostname()),
    ...(history ? { history } : {}),
    ...(env.SERVING_SIGNING_POLICY
      ? {
          signing: {
            policy: await signingPolicyFromEnv(env.SERVING_SIGNING_POLICY, readText),
            ...(env.SERVING_SIGSTORE_TRUSTED_ROOT
              ? { trustedRootFile: env.SERVING_SIGSTORE_TRUSTED_ROOT }
              : {}),
          },
        }
      : {}),
  };
  checkRelations(config);
  return config;
}
