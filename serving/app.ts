/**
 * The Koa app of the inference server: `/predict`, the Open Inference
 * Protocol v2 endpoints, health, `/metrics` and the web page. Everything it
 * touches is passed in (model, registry, logger, config); only
 * serving/main.ts calls `listen`, and tests drive `app.callback()`.
 *
 * @see https://github.com/koajs/koa/blob/master/docs/api/index.md
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import * as tf from '@tensorflow/tfjs';
import Koa from 'koa';
import type { Registry } from 'prom-client';
import { compileValidator, httpStatusOf, isProjectError, ProjectError } from '../platform/index.ts';
import { readMultipartFiles, readRawBody } from './body.ts';
import type { ServingConfig } from './config.ts';
import { createDriftMonitor, type DriftMonitor, driftConfigFromEnv } from './drift/index.ts';
import { AccuracyWindow, FeedbackStore } from './feedback.ts';
import {
  classifyImages,
  createModelBatcher,
  type ModelBatcher,
  recordPrediction,
  topK,
} from './inference.ts';
import type { Logger } from './logger.ts';
import { monitorLoopBusy } from './loop-monitor.ts';
import { createMetrics, type ServingMetrics } from './metrics.ts';
import type { ServedModel } from './model.ts';
import { PixelBudget } from './pixel-budget.ts';
import { applySecurityHeaders, PAGE_CSP } from './security.ts';
import { INPUT_NAME, OUTPUT_NAME, tensorInputs, validateInferRequest } from './v2.ts';

/** Readiness of the process: false until warm, and false again from SIGTERM on. */
export class Lifecycle {
  #ready = false;
  #shuttingDown = false;
  #inferenceAvailable = true;
  #metrics?: ServingMetrics;
  constructor(ready = false) {
    this.#ready = ready;
  }
  /** Mirror readiness in serving_model_ready. */
  bindMetrics(metrics: ServingMetrics): void {
    this.#metrics = metrics;
    metrics.modelReady.set(this.ready ? 1 : 0);
  }
  get ready(): boolean {
    return this.#ready && !this.#shuttingDown && this.#inferenceAvailable;
  }
  /** False while the inference worker restarts after a crash (serving/worker). */
  setInferenceAvailable(available: boolean): void {
    this.#inferenceAvailable = available;
    this.#metrics?.modelReady.set(this.ready ? 1 : 0);
  }
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }
  setReady(ready: boolean): void {
    this.#ready = ready;
    this.#metrics?.modelReady.set(this.ready ? 1 : 0);
  }
  /** Readiness goes false first, before the server stops accepting. */
  beginShutdown(): void {
    this.#shuttingDown = true;
    this.#metrics?.modelReady.set(0);
  }
}

export interface AppOptions {
  model: ServedModel;
  registry: Registry;
  logger: Logger;
  config: ServingConfig;
  /** tfjs backend name for serving_model_info (default tf.getBackend()). */
  backend?: string;
  /** Default: a lifecycle that is ready at once (the model passed in is loaded). */
  lifecycle?: Lifecycle;
  /** Default serving/public. */
  publicDir?: string;
}

/** What main.ts needs besides the app: readiness and the queue to drain. */
export interface ServingHandles {
  lifecycle: Lifecycle;
  batcher: ModelBatcher;
  metrics: ServingMetrics;
  drift: DriftMonitor;
  /** Decoded pixels in flight across requests. */
  budget: PixelBudget;
  /** Stop the event-loop monitor's timer (shutdown). */
  stopLoopMonitor: () => void;
  /** Recent answers that can take ground-truth feedback. */
  feedback: FeedbackStore;
}

export type ServingApp = Koa & { serving: ServingHandles };

const HERE = dirname(fileURLToPath(import.meta.url));
const PUBLIC_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
};
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** The plots training writes into every artifact (training/artifact.ts), shown on the page. */
const PLOTS = ['learning-curves.png', 'confusion-matrix.png'];

/** The fields `keys` of `value` (or null when there is no value). */
function pick<T extends object, K extends keyof T>(value: T | null, keys: K[]): Pick<T, K> | { samples: 0 } {
  if (!value) return { samples: 0 };
  return Object.fromEntries(keys.map((k) => [k, value[k]])) as Pick<T, K>;
}
const SAMPLE_NAME = /^[A-Za-z0-9._-]+\.(png|jpe?g)$/i;

const validateFeedbackBody = compileValidator<{ request_id: string; label: string; index?: number }>({
  type: 'object',
  required: ['request_id', 'label'],
  additionalProperties: false,
  properties: {
    request_id: { type: 'string', pattern: REQUEST_ID.source },
    label: { type: 'string', minLength: 1, maxLength: 256 },
    index: { type: 'integer', minimum: 0, maximum: 1_000_000 },
  },
});

/** `Authorization: Bearer <token>` equal to `token`, compared in constant time. */
function bearerMatches(header: string, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(header)?.[1] ?? '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return given !== '' && timingSafeEqual(a, b);
}

/** The media type of image bytes, from their first bytes (PNG or JPEG; anything else was refused before). */
function imageContentType(bytes: Uint8Array): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  return 'application/octet-stream';
}

const validateImagesBody = compileValidator<{ images: string[] }>({
  type: 'object',
  required: ['images'],
  additionalProperties: false,
  properties: { images: { type: 'array', minItems: 1, items: { type: 'string' } } },
});

function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new ProjectError('INVALID', 'request body is empty; expected a JSON object');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new ProjectError('INVALID', `request body is not valid JSON: ${(e as Error).message}`, {
      hint: 'send a JSON object with Content-Type: application/json',
      cause: e,
    });
  }
}

const withoutPadding = (s: string): string => {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 61 /* = */) end--;
  return s.slice(0, end);
};

function decodeBase64(s: string, what: string): Uint8Array {
  const prefixed = s.replace(/^data:[^;,]*;base64,/, '');
  // Fast path, native only (a 6 MB string in a few ms, where regular
  // expressions over it held the event loop for tens): Node skips characters
  // outside the alphabet, so a canonical re-encoding equal to the input
  // proves there were none.
  const fast = Buffer.from(prefixed, 'base64');
  if (withoutPadding(fast.toString('base64')) === withoutPadding(prefixed) && prefixed.length % 4 !== 1) {
    return new Uint8Array(fast.buffer, fast.byteOffset, fast.byteLength);
  }
  const body = prefixed.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 === 1) {
    throw new ProjectError('INVALID', `${what} is not base64`, {
      subject: what,
      hint: 'base64-encode the PNG or JPEG bytes',
    });
  }
  return new Uint8Array(Buffer.from(body, 'base64'));
}

function unsupportedMedia(type: string): ProjectError {
  return new ProjectError(
    'UNSUPPORTED_MEDIA',
    type ? `Content-Type ${type} is not accepted` : 'the request has no Content-Type',
    {
      hint: 'send multipart/form-data with a file field "image", a raw image/png or image/jpeg body, or application/json {"images": ["<base64>", ...]}',
    },
  );
}

/** Images of a /predict request, with the name each error should use, and whether it was a list. */
async function predictInputs(
  ctx: Koa.Context,
  limits: ServingConfig['limits'],
): Promise<{ images: Uint8Array[]; sources: string[]; list: boolean }> {
  const type = ctx.request.type;
  if (type === 'image/png' || type === 'image/jpeg') {
    const body = await readRawBody(ctx.req, limits.maxBodyBytes);
    return { images: [new Uint8Array(body)], sources: ['request body'], list: false };
  }
  if (type === 'multipart/form-data') {
    const files = await readMultipartFiles(ctx.req, 'image', {
      maxBytes: limits.maxBodyBytes,
      maxFiles: limits.maxImagesPerRequest,
    });
    if (files.length === 0) {
      throw new ProjectError('INVALID', 'multipart/form-data body has no file field "image"', {
        hint: 'send the image as a file in the form field named "image"',
      });
    }
    return {
      images: files.map((f) => new Uint8Array(f)),
      sources: files.map((_, i) => (files.length === 1 ? 'field "image"' : `field "image" #${i + 1}`)),
      list: files.length > 1,
    };
  }
  if (type === 'application/json') {
    const { images } = validateImagesBody(
      parseJson(await readRawBody(ctx.req, limits.maxBodyBytes)),
      'request body',
    );
    if (images.length > limits.maxImagesPerRequest) {
      throw new ProjectError(
        'TOO_LARGE',
        `request body has ${images.length} images, over the limit of ${limits.maxImagesPerRequest} per request`,
        { hint: 'split them over several requests' },
      );
    }
    return {
      images: images.map((s, i) => decodeBase64(s, `images[${i}]`)),
      sources: images.map((_, i) => `images[${i}]`),
      list: true,
    };
  }
  throw unsupportedMedia(type);
}

/**
 * What a client is told about an error: the message of an error that is safe
 * to show (the client's own input, a limit, a full queue), and for any other
 * 5xx a fixed text with the request id, never internal text (a stack, a
 * library's message, a path); the log has the detail under the same id.
 */
export function clientError(e: unknown, requestId: string): { status: number; message: string } {
  const status = isProjectError(e) ? httpStatusOf(e) : ((e as { status?: number }).status ?? 500);
  if (status >= 500) {
    if (isProjectError(e) && e.expose && ['OVERLOADED', 'UNAVAILABLE', 'INTERRUPTED'].includes(e.code)) {
      return { status, message: e.message };
    }
    return { status, message: `internal error; the server log has the detail under request id ${requestId}` };
  }
  const expose = isProjectError(e) ? e.expose : (e as { expose?: boolean }).expose === true;
  return { status, message: expose ? (e as Error).message : `request refused (HTTP ${status})` };
}

/** The worker thread's tensor count, or nothing when it does not answer within a second (restarting). */
async function workerTensors(model: ServedModel): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), 1000);
  });
  try {
    return await Promise.race([model.numTensors().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function parseK(raw: unknown, labels: number, dflt: number): number {
  if (raw === undefined) return Math.min(dflt, labels);
  const s = Array.isArray(raw) ? raw[0] : raw;
  const k = typeof s === 'string' && /^[0-9]+$/.test(s) ? Number(s) : Number.NaN;
  if (!(k >= 1 && k <= labels)) {
    throw new ProjectError(
      'INVALID',
      `query parameter k=${String(s)} must be an integer from 1 to ${labels} (the number of labels)`,
      { subject: 'k' },
    );
  }
  return k;
}

/**
 * Build the Koa app. The returned app carries `serving` (lifecycle, batcher,
 * metrics) for main.ts's graceful shutdown.
 */
export function createApp(opts: AppOptions): ServingApp {
  const { model, registry, logger, config } = opts;
  const metrics = createMetrics(registry, {
    tensors: async () => ({
      main: tf.memory().numTensors,
      ...(model.runner === 'worker' ? { worker: await workerTensors(model) } : {}),
    }),
  });
  const lifecycle = opts.lifecycle ?? new Lifecycle(true);
  lifecycle.bindMetrics(metrics);
  const stopLoopMonitor = monitorLoopBusy(metrics.loopBusy);
  model.onAvailability((available) => lifecycle.setInferenceAvailable(available));
  const batcher = createModelBatcher(model, config.batching, metrics);
  const budget = new PixelBudget(config.limits.maxPixelsInFlight, (n) => metrics.decodePixelsInFlight.set(n));
  metrics.decodePixelsCapacity.set(config.limits.maxPixelsInFlight);
  const backend = opts.backend ?? tf.getBackend();
  const drift = createDriftMonitor({
    files: model.files,
    labels: model.labels,
    spec: model.spec,
    metrics,
    config: config.drift ?? driftConfigFromEnv({}),
    logger,
  });
  metrics.modelInfo.set({ model: model.name, version: model.version, sha256: model.sha256, backend }, 1);
  const feedback = new FeedbackStore(config.feedback);
  const accuracy = new AccuracyWindow(config.feedback.window);
  const versionLabels = { model: model.name, version: model.version };

  const publicDir = opts.publicDir ?? join(HERE, 'public');
  const publicFiles = new Map(
    Object.entries(PUBLIC_FILES).map(([route, file]) => [route, readFileSync(join(publicDir, file))]),
  );

  const app = new Koa() as ServingApp;
  app.serving = { lifecycle, batcher, metrics, drift, budget, stopLoopMonitor, feedback };
  app.proxy = false;

  // Request id, metrics and the one error handler, outermost first.
  app.use(async (ctx, next) => {
    applySecurityHeaders((name, value) => ctx.set(name, value));
    const given = ctx.get('x-request-id');
    const id = REQUEST_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    metrics.httpInFlight.inc();
    const end = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      metrics.httpInFlight.dec();
      const route = (ctx as unknown as { _matchedRoute?: string | RegExp })._matchedRoute;
      const labels = {
        route: typeof route === 'string' ? route : 'unmatched',
        method: ctx.method,
        code: String(ctx.status),
      };
      metrics.httpRequests.inc(labels);
      end(labels);
    }
  });
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (e) {
      const { status, message } = clientError(e, ctx.state.requestId as string);
      const code = isProjectError(e) ? e.code : 'INTERNAL';
      if (status >= 500 && code !== 'OVERLOADED') {
        // The detail (stack, cause, worker text) goes to the log only, under the request id.
        const fields = {
          request_id: ctx.state.requestId,
          path: ctx.path,
          code,
          error: String((e as Error)?.stack ?? e),
          ...((e as Error)?.cause
            ? { cause: String(((e as Error).cause as Error)?.message ?? (e as Error).cause) }
            : {}),
        };
        if (code === 'UNAVAILABLE' || code === 'INTERRUPTED') logger.warn('request not served', fields);
        else logger.error('request failed', fields);
      }
      ctx.status = status;
      const retryAfter = (isProjectError(e) ? e.details : undefined) as
        | { retryAfterSeconds?: number }
        | undefined;
      if (isProjectError(e) && (e.code === 'OVERLOADED' || retryAfter?.retryAfterSeconds)) {
        ctx.set('Retry-After', String(retryAfter?.retryAfterSeconds ?? 1));
      }
      // A body left unread (413 told by Content-Length) cannot be reused: close the connection.
      if (status === 413) ctx.set('Connection', 'close');
      ctx.body = ctx.path.startsWith('/v2')
        ? { error: message }
        : { error: message, code, request_id: ctx.state.requestId };
    }
  });

  const router = new Router();

  // Health: liveness is the process answering (and inference not given up on);
  // readiness is warm, inference available and not shutting down.
  router.get('/healthz', (ctx) => {
    // The failure's text is in the log ('inference worker given up'), not in the answer.
    const { failure } = model.health();
    ctx.status = failure ? 503 : 200;
    ctx.body = failure
      ? { status: 'failed', error: 'inference is down; the process must be restarted (see the server log)' }
      : { status: 'ok' };
  });
  router.get('/readyz', (ctx) => {
    ctx.status = lifecycle.ready ? 200 : 503;
    ctx.body = { ready: lifecycle.ready, model: model.name, version: model.version };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });

  router.post('/predict', async (ctx) => {
    const k = parseK(ctx.query.k, model.labels.length, config.topK);
    const { images, sources, list } = await predictInputs(ctx, config.limits);
    const outputs = await classifyImages(images, sources, {
      model,
      batcher,
      metrics,
      limits: config.limits,
      budget,
      drift,
    });
    const ranked = outputs.map((p) => topK(p, model.labels, k));
    // Remember the answer for ground-truth feedback (a copy: a view would pin the whole request body).
    feedback.remember(
      ctx.state.requestId,
      model.version,
      ranked.map((r, i) => ({
        predicted: r[0]?.label ?? '',
        bytes: Buffer.from(images[i] as Uint8Array),
        contentType: imageContentType(images[i] as Uint8Array),
      })),
    );
    metrics.feedbackRemembered.set(feedback.size.answers);
    ctx.body = {
      model: model.name,
      version: model.version,
      request_id: ctx.state.requestId,
      predictions: list ? ranked : ranked[0],
    };
  });

  // Open Inference Protocol v2.
  const notFound = (name: string) =>
    new ProjectError('NOT_FOUND', `model "${name}" is not served here; this server serves "${model.name}"`);
  const checkModel = (name: string | undefined, version?: string) => {
    if (name !== model.name) throw notFound(name ?? '');
    if (version !== undefined && version !== model.version) {
      throw new ProjectError(
        'NOT_FOUND',
        `model "${name}" version "${version}" is not served here; this server serves version "${model.version}"`,
      );
    }
  };
  const modelMetadata = {
    name: model.name,
    versions: [model.version],
    platform: 'tensorflowjs_layers',
    inputs: [
      {
        name: INPUT_NAME,
        datatype: 'FP32',
        shape: [-1, model.spec.height, model.spec.width, model.spec.channels],
      },
    ],
    outputs: [{ name: OUTPUT_NAME, datatype: 'FP32', shape: [-1, model.labels.length] }],
    parameters: { labels: model.labels, sha256: model.sha256 },
  };
  router.get('/v2', (ctx) => {
    ctx.body = { name: 'gitops-ml-serving', version: '1', extensions: [] };
  });
  router.get('/v2/health/live', (ctx) => {
    ctx.body = { live: true };
  });
  // The protocol answers "false" with a 4xx status.
  const readyBody = (ctx: Koa.Context) => {
    ctx.status = lifecycle.ready ? 200 : 400;
    ctx.body = { ready: lifecycle.ready };
  };
  router.get('/v2/health/ready', readyBody);
  router.get('/v2/models/:name', (ctx) => {
    checkModel(ctx.params.name);
    ctx.body = modelMetadata;
  });
  router.get('/v2/models/:name/versions/:version', (ctx) => {
    checkModel(ctx.params.name, ctx.params.version);
    ctx.body = modelMetadata;
  });
  router.get('/v2/models/:name/ready', (ctx) => {
    checkModel(ctx.params.name);
    readyBody(ctx);
  });
  router.get('/v2/models/:name/versions/:version/ready', (ctx) => {
    checkModel(ctx.params.name, ctx.params.version);
    readyBody(ctx);
  });
  const infer = async (ctx: Koa.Context, name: string | undefined, version?: string) => {
    checkModel(name, version);
    const type = ctx.request.type;
    if (type !== 'application/json' && type !== '') throw unsupportedMedia(type);
    const req = validateInferRequest(
      parseJson(await readRawBody(ctx.req, config.limits.maxBodyBytes)),
      'inference request',
    );
    const inputs = tensorInputs(req, model.spec, config.limits.maxImagesPerRequest);
    const outputs = await batcher.submit(inputs);
    for (const p of outputs) recordPrediction(metrics, model, p);
    drift.observeInputs(inputs, outputs);
    const data: number[] = [];
    for (const p of outputs) for (const v of p) data.push(v);
    ctx.body = {
      model_name: model.name,
      model_version: model.version,
      id: req.id ?? ctx.state.requestId,
      outputs: [{ name: OUTPUT_NAME, datatype: 'FP32', shape: [outputs.length, model.labels.length], data }],
    };
  };
  router.post('/v2/models/:name/infer', (ctx) => infer(ctx, ctx.params.name));
  router.post('/v2/models/:name/versions/:version/infer', (ctx) =>
    infer(ctx, ctx.params.name, ctx.params.version),
  );

  // The web page and its data.
  for (const [route, bytes] of publicFiles) {
    router.get(route, (ctx) => {
      ctx.type = CONTENT_TYPES[PUBLIC_FILES[route]!.split('.').pop()!]!;
      ctx.set('Cache-Control', 'no-cache');
      ctx.set('Content-Security-Policy', PAGE_CSP);
      ctx.body = bytes;
    });
  }
  const artifactSamples = [...model.files.keys()]
    .filter((f) => f.startsWith('samples/'))
    .map((f) => f.slice(8));
  const listSamples = async (): Promise<string[]> => {
    const names = new Set(artifactSamples.filter((n) => SAMPLE_NAME.test(n)));
    if (config.samplesDir) {
      try {
        for (const n of await readdir(config.samplesDir)) if (SAMPLE_NAME.test(n)) names.add(n);
      } catch (e) {
        logger.warn('samples folder cannot be read', { dir: config.samplesDir, error: (e as Error).message });
      }
    }
    return [...names].sort();
  };
  router.get('/api/model', async (ctx) => {
    ctx.body = {
      model: model.name,
      version: model.version,
      sha256: model.sha256,
      backend,
      labels: model.labels,
      input: { width: model.spec.width, height: model.spec.height, channels: model.spec.channels },
      evaluation: model.evaluation ?? null,
      samples: await listSamples(),
      // The model card: the artifact's plots, live accuracy, drift, and where each version runs.
      plots: PLOTS.filter((f) => model.files.has(f)),
      live: feedback.enabled
        ? { accuracy: accuracy.samples ? accuracy.accuracy : null, samples: accuracy.samples }
        : null,
      drift: drift.enabled
        ? { enabled: true, ...pick(drift.result(), ['samples', 'scored', 'drifted']) }
        : { enabled: false, reason: drift.disabledReason ?? null },
      history: config.history ?? null,
    };
  });
  // The training plots of this version's artifact (verified with every other file at start-up).
  router.get('/artifact/:file', (ctx) => {
    const name = ctx.params.file ?? '';
    const bytes = PLOTS.includes(name) ? model.files.get(name) : undefined;
    if (!bytes) {
      throw new ProjectError('NOT_FOUND', `no plot "${name}" in this artifact`, {
        hint: `the plots are ${PLOTS.join(', ')} (GET /api/model lists those present)`,
      });
    }
    ctx.type = 'image/png';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = Buffer.from(bytes);
  });
  // Ground-truth feedback (serving/feedback.ts, docs/serving.md "Feedback").
  router.post('/feedback', async (ctx) => {
    if (!feedback.enabled) {
      throw new ProjectError('NOT_FOUND', 'feedback is off on this server (SERVING_FEEDBACK_CAPACITY=0)');
    }
    const type = ctx.request.type;
    if (type !== 'application/json') throw unsupportedMedia(type);
    const body = validateFeedbackBody(parseJson(await readRawBody(ctx.req, 64 * 1024)), 'feedback');
    if (!model.labels.includes(body.label)) {
      throw new ProjectError(
        'INVALID',
        `label "${body.label}" is not one of the model's labels (${model.labels.join(', ')})`,
        { subject: 'label' },
      );
    }
    const outcome = feedback.record(body.request_id, body.index ?? 0, body.label);
    metrics.feedback.inc({ ...versionLabels, outcome: outcome.correct ? 'correct' : 'incorrect' });
    metrics.feedbackConfusion.inc({
      ...versionLabels,
      true_class: outcome.label,
      predicted_class: outcome.predicted,
    });
    const live = accuracy.add(outcome.correct);
    metrics.liveAccuracy.set(versionLabels, live);
    metrics.liveAccuracySamples.set(versionLabels, accuracy.samples);
    ctx.body = { ...outcome, live_accuracy: live, live_accuracy_samples: accuracy.samples };
  });
  // The labelled images as new training data (JSON Lines), for whoever holds the export token.
  router.get('/feedback/export', (ctx) => {
    const token = config.feedback.exportToken;
    if (!token) {
      throw new ProjectError('NOT_FOUND', 'the feedback export is off on this server', {
        hint: 'set SERVING_FEEDBACK_EXPORT_TOKEN (a secret) to turn it on',
      });
    }
    if (!bearerMatches(ctx.get('authorization'), token)) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new ProjectError('UNAUTHORIZED', 'the feedback export needs the export token', {
        hint: 'send Authorization: Bearer <SERVING_FEEDBACK_EXPORT_TOKEN>',
      });
    }
    ctx.type = 'application/x-ndjson';
    ctx.body = Readable.from(
      (function* () {
        for (const f of feedback.exported()) yield `${JSON.stringify(f)}\n`;
      })(),
    );
  });

  // The drift of the window now, with thresholds and verdicts (docs/drift.md).
  router.get('/api/drift', (ctx) => {
    ctx.body = drift.enabled
      ? { enabled: true, ...drift.result() }
      : { enabled: false, reason: drift.disabledReason ?? null };
  });
  router.get('/samples/:file', async (ctx) => {
    const name = ctx.params.file ?? '';
    if (!SAMPLE_NAME.test(name) || !(await listSamples()).includes(name)) {
      throw new ProjectError('NOT_FOUND', `no demo image "${name}"`, { hint: 'GET /api/model lists them' });
    }
    const inArtifact = model.files.get(`samples/${name}`);
    ctx.type = CONTENT_TYPES[name.split('.').pop()!.toLowerCase()]!;
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = inArtifact ? Buffer.from(inArtifact) : await readFile(join(config.samplesDir!, name));
  });

  // Unmatched: 405 (with Allow) for a known path, else 404. allowedMethods
  // decides after the routes, so the 404 comes last, on the way out.
  app.use(async (ctx, next) => {
    await next();
    if (ctx.body !== undefined) return;
    if (ctx.status === 405 || ctx.status === 501) {
      // allowedMethods set the status and `Allow`; the answer is a JSON error like every other.
      throw Object.assign(
        new Error(
          `method ${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`,
        ),
        { status: ctx.status, expose: true },
      );
    }
    if (ctx.status === 404) {
      throw new ProjectError('NOT_FOUND', `no route ${ctx.method} ${ctx.path}`, {
        hint: 'see docs/serving.md for the endpoints',
      });
    }
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
