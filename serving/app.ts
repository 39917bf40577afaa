/**
 * The Koa app of the inference server, composed of one router per concern
 * (serving/routes/): health, metrics, `/predict`, the Open Inference
 * Protocol v2 endpoints, the web page and model card, feedback and drift,
 * inside the request-context and error middleware. Everything it touches is
 * passed in (model, registry, logger, config); only serving/main.ts calls
 * `listen`, and tests drive `app.callback()`.
 *
 * @see https://github.com/koajs/koa/blob/master/docs/api/index.md
 */
import { join } from 'node:path';
import Router from '@koa/router';
import * as tf from '@tensorflow/tfjs';
import Koa from 'koa';
import type { Registry } from 'prom-client';
import { createObjectStore, type ObjectStore } from '../platform/object-store/index.ts';
import { InFlightBudget } from './budget.ts';
import { Capture, capturedImageKey } from './capture.ts';
import type { ServingConfig } from './config.ts';
import { createDriftMonitor, type DriftMonitor, driftConfigFromEnv } from './drift/index.ts';
import { AccuracyWindow, type LabelLedger, MemoryLedger, RecentImages, StoreLedger } from './feedback.ts';
import { FeedbackIds } from './feedback-id.ts';
import { createModelBatcher, type ModelBatcher } from './inference.ts';
import { Lifecycle } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { monitorLoopBusy } from './loop-monitor.ts';
import { createMetrics, type ServingMetrics } from './metrics.ts';
import type { ServedModel } from './model.ts';
import type { RouteDeps } from './routes/deps.ts';
import { driftRouter } from './routes/drift.ts';
import { feedbackRouter } from './routes/feedback.ts';
import { healthRouter } from './routes/health.ts';
import { metricsRouter } from './routes/metrics.ts';
import { bodyBudget, errorHandler, requestContext, unmatched } from './routes/middleware.ts';
import { pageRouter } from './routes/page.ts';
import { predictRouter } from './routes/predict.ts';
import { v2Router } from './routes/v2.ts';
import { MemoryShadowAnswers, Shadow, StoreShadowAnswers } from './shadow.ts';

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
  /** The object store of capture and feedback; default: a client for config.objectStore when it names a bucket. */
  objectStore?: ObjectStore;
}

/** What main.ts needs besides the app: readiness and the queue to drain. */
export interface ServingHandles {
  lifecycle: Lifecycle;
  batcher: ModelBatcher;
  metrics: ServingMetrics;
  drift: DriftMonitor;
  /** Decoded pixels in flight across requests. */
  budget: InFlightBudget;
  /** Bytes of request bodies being read or held across requests. */
  bodyBudget: InFlightBudget;
  /** Stop the event-loop monitor's timer (shutdown). */
  stopLoopMonitor: () => void;
  /** Payload capture, to flush on shutdown; undefined when off. */
  capture?: Capture;
  /** The object store client of capture and feedback, to close on shutdown. */
  objectStore?: ObjectStore;
  /** Shadow traffic, to drain on shutdown; undefined when off. */
  shadow?: Shadow;
  /** Where labels are recorded. */
  labels: LabelLedger;
}

export type ServingApp = Koa & { serving: ServingHandles };

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

/** The client capture and feedback write with: short timeouts, so a slow store fails a batch rather than holding it. */
function runtimeStore(opts: AppOptions): ObjectStore | undefined {
  if (opts.objectStore) return opts.objectStore;
  const c = opts.config.objectStore;
  return c?.bucket ? createObjectStore(c, { timeoutMs: 10_000, maxAttempts: 2 }) : undefined;
}

/** Feedback ids, the label ledger, capture, and where exported images come from. */
function feedbackDeps(opts: AppOptions, metrics: ServingMetrics) {
  const { config, logger } = opts;
  const store = runtimeStore(opts);
  const bucket = config.objectStore?.bucket ?? '';
  const feedbackIds = new FeedbackIds(config.feedback.idKey, config.feedback.idKeyPrevious);
  if (!feedbackIds.shared && config.feedback.capacity > 0) {
    logger.warn('SERVING_ID_KEY is not set: feedback ids verify only on this process, until it restarts', {
      hint: 'with several replicas, give them one SERVING_ID_KEY (a Secret: docs/serving.md#feedback)',
    });
  }
  const labels: LabelLedger = store ? new StoreLedger(store, bucket) : new MemoryLedger(config.feedback);
  const capture =
    store && config.capture.sample > 0
      ? new Capture({ config: config.capture, store, bucket, pod: config.pod, metrics, logger })
      : undefined;
  const shadow = config.shadow
    ? new Shadow({
        config: config.shadow,
        answers: store
          ? new StoreShadowAnswers(store, bucket)
          : new MemoryShadowAnswers(Math.max(config.feedback.capacity, 1)),
        model: { name: config.model.name, version: config.model.version },
        pod: config.pod,
        metrics,
        logger,
      })
    : undefined;
  const capturedImage = async (sha256: string) => {
    if (!store || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    try {
      const got = await store.get({ bucket, key: capturedImageKey(sha256) });
      const chunks: Uint8Array[] = [];
      for await (const c of got.body) chunks.push(c);
      return { bytes: Buffer.concat(chunks), contentType: got.contentType ?? 'application/octet-stream' };
    } catch (e) {
      if ((e as { code?: string }).code === 'NOT_FOUND') return undefined;
      throw e;
    }
  };
  return {
    store,
    feedbackIds,
    labels,
    images: new RecentImages(store ? { ...config.feedback, capacity: 0 } : config.feedback),
    ...(capture ? { capture } : {}),
    ...(shadow ? { shadow } : {}),
    capturedImage,
    pod: config.pod,
  };
}

/** The parts every router shares, made once per app: metrics, readiness, batcher, budget, drift, feedback. */
function routeDeps(opts: AppOptions): RouteDeps & { store?: ObjectStore } {
  const { model, registry, logger, config } = opts;
  const metrics = createMetrics(registry, {
    tensors: async () => ({
      main: tf.memory().numTensors,
      ...(model.runner === 'worker' ? { worker: await workerTensors(model) } : {}),
    }),
  });
  const lifecycle = opts.lifecycle ?? new Lifecycle(true);
  lifecycle.bindMetrics(metrics);
  model.onAvailability((available) => lifecycle.setInferenceAvailable(available));
  const batcher = createModelBatcher(model, config.batching, metrics);
  const budget = new InFlightBudget(config.limits.maxPixelsInFlight, 'pixels being decoded', (n) =>
    metrics.decodePixelsInFlight.set(n),
  );
  metrics.decodePixelsCapacity.set(config.limits.maxPixelsInFlight);
  const bodyBudget = new InFlightBudget(config.limits.maxBodyBytesInFlight, 'bytes of request bodies', (n) =>
    metrics.bodyBytesInFlight.set(n),
  );
  metrics.bodyBytesCapacity.set(config.limits.maxBodyBytesInFlight);
  const backend = opts.backend ?? tf.getBackend();
  const drift = createDriftMonitor({
    files: model.files,
    labels: model.labels,
    spec: model.spec,
    metrics,
    config: config.drift ?? driftConfigFromEnv({}),
    logger,
  });
  metrics.modelInfo.set(
    {
      model: model.name,
      version: model.version,
      sha256: model.sha256,
      backend,
      execution: model.execution.kind,
    },
    1,
  );
  return {
    model,
    config,
    logger,
    registry,
    metrics,
    lifecycle,
    batcher,
    budget,
    bodyBudget,
    drift,
    ...feedbackDeps(opts, metrics),
    accuracy: new AccuracyWindow(config.feedback.window),
    backend,
    publicDir: opts.publicDir ?? join(import.meta.dirname, 'public'),
  };
}

/**
 * Build the Koa app. The returned app carries `serving` (lifecycle, batcher,
 * metrics) for main.ts's graceful shutdown.
 */
export function createApp(opts: AppOptions): ServingApp {
  const deps = routeDeps(opts);
  const stopLoopMonitor = monitorLoopBusy(deps.metrics.loopBusy);
  const router = new Router();
  for (const concern of [
    healthRouter(deps),
    metricsRouter(deps),
    predictRouter(deps),
    v2Router(deps),
    pageRouter(deps),
    feedbackRouter(deps),
    driftRouter(deps),
  ]) {
    router.use(concern.routes());
  }
  const app = new Koa() as ServingApp;
  app.serving = {
    lifecycle: deps.lifecycle,
    batcher: deps.batcher,
    metrics: deps.metrics,
    drift: deps.drift,
    budget: deps.budget,
    bodyBudget: deps.bodyBudget,
    stopLoopMonitor,
    labels: deps.labels,
  };
  if (deps.capture) app.serving.capture = deps.capture;
  if (deps.shadow) app.serving.shadow = deps.shadow;
  if (deps.store) app.serving.objectStore = deps.store;
  // The client's address: the socket's, or behind a trusted proxy the one it saw (X-Forwarded-For's last entry).
  app.proxy = opts.config.trustProxy;
  app.maxIpsCount = 1;
  // Outermost first: request id and metrics, the one error handler, then 405/404 for what no route took.
  app.use(requestContext(deps.metrics));
  app.use(errorHandler(opts.logger));
  app.use(unmatched());
  app.use(bodyBudget(deps.bodyBudget));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
