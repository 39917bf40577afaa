/**
 * Every Prometheus metric of the serving process, defined once from a
 * registry passed in (names and labels are fixed in docs/contracts.md).
 * A duplicate or malformed name fails here, at construction, not at scrape.
 *
 * @see https://prometheus.io/docs/practices/naming/ unit suffixes, `_total`
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';

export interface ServingMetrics {
  httpRequests: Counter<'route' | 'method' | 'code'>;
  httpDuration: Histogram<'route' | 'method' | 'code'>;
  httpInFlight: Gauge;
  httpShed: Counter;
  inferenceDuration: Histogram;
  batchSize: Histogram;
  queueDepth: Gauge;
  queueCapacity: Gauge;
  predictions: Counter<'model' | 'version' | 'class'>;
  confidence: Histogram<'model' | 'version'>;
  modelInfo: Gauge<'model' | 'version' | 'sha256' | 'backend' | 'execution'>;
  modelReady: Gauge;
  driftScore: Gauge<'feature' | 'method'>;
  driftPredictionPsi: Gauge;
  driftMeanConfidence: Gauge;
  driftWindowSamples: Gauge;
  driftEnabled: Gauge;
  decodePixelsInFlight: Gauge;
  decodePixelsCapacity: Gauge;
  bodyBytesInFlight: Gauge;
  bodyBytesCapacity: Gauge;
  tensors: Gauge<'thread'>;
  loopBusy: Histogram;
  feedback: Counter<'model' | 'version' | 'outcome'>;
  feedbackConfusion: Counter<'model' | 'version' | 'true_class' | 'predicted_class'>;
  liveAccuracy: Gauge<'model' | 'version'>;
  liveAccuracySamples: Gauge<'model' | 'version'>;
  feedbackRemembered: Gauge;
  feedbackRefused: Counter<'reason'>;
  captureRecords: Counter;
  captureDropped: Counter<'reason'>;
  captureQueueBytes: Gauge;
  shadowRequests: Counter<'model' | 'version' | 'shadow_version' | 'outcome'>;
  shadowImages: Counter<'model' | 'version' | 'shadow_version' | 'outcome'>;
  shadowFeedback: Counter<'model' | 'version' | 'champion_version' | 'outcome'>;
}

export interface MetricsOptions {
  /** Also register prom-client's default process metrics (default true). */
  defaultMetrics?: boolean;
  /** tfjs tensors alive now, per thread (`main`, and `worker` when inference runs there); read at scrape. */
  tensors?: () => Promise<Partial<Record<'main' | 'worker', number>>>;
}

/**
 * Register the serving metrics (and the default process metrics) into `registry`,
 * in the order of docs/contracts.md "Metrics", one group of them at a time.
 */
export function createMetrics(registry: Registry, opts: MetricsOptions = {}): ServingMetrics {
  const registers = [registry];
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const m: ServingMetrics = {
    ...httpMetrics(registers),
    ...inferenceMetrics(registers),
    ...modelMetrics(registers),
    ...driftMetrics(registers),
    ...processMetrics(registers),
    ...feedbackMetrics(registers),
    ...captureMetrics(registers),
    ...shadowMetrics(registers),
    tensors: tensorsGauge(registers, opts.tensors),
  };
  m.decodePixelsInFlight.set(0);
  m.modelReady.set(0);
  m.driftEnabled.set(0);
  m.driftWindowSamples.set(0);
  m.queueDepth.set(0);
  m.httpInFlight.set(0);
  // Present at 0 from the start, so that a rate() or an alert sees the first drop.
  for (const reason of ['queue_full', 'store_error', 'shutdown']) m.captureDropped.inc({ reason }, 0);
  return m;
}

type Registers = Registry[];

/** The HTTP server: requests answered, their duration, requests in flight, requests shed. */
function httpMetrics(
  registers: Registers,
): Pick<ServingMetrics, 'httpRequests' | 'httpDuration' | 'httpInFlight' | 'httpShed'> {
  return {
    httpRequests: new Counter({
      name: 'serving_http_requests_total',
      help: 'HTTP requests answered, by matched route pattern, method and status code.',
      labelNames: ['route', 'method', 'code'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'serving_http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by matched route pattern, method and status code.',
      labelNames: ['route', 'method', 'code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    httpInFlight: new Gauge({
      name: 'serving_http_requests_in_flight',
      help: 'HTTP requests being handled now.',
      registers,
    }),
    httpShed: new Counter({
      name: 'serving_http_requests_shed_total',
      help: 'HTTP requests a route answered 503 to shed load (full queue, pixel or body budget); also counted in serving_http_requests_total.',
      registers,
    }),
  };
}

/** Inference: its duration, batch sizes, the micro-batching queue. */
function inferenceMetrics(
  registers: Registers,
): Pick<ServingMetrics, 'inferenceDuration' | 'batchSize' | 'queueDepth' | 'queueCapacity'> {
  return {
    inferenceDuration: new Histogram({
      name: 'serving_inference_duration_seconds',
      help: 'Model inference time in seconds, one observation per batch.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    batchSize: new Histogram({
      name: 'serving_inference_batch_size',
      help: 'Images per inference batch.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'serving_inference_queue_depth',
      help: 'Images waiting in the micro-batching queue.',
      registers,
    }),
    queueCapacity: new Gauge({
      name: 'serving_inference_queue_capacity',
      help: 'Capacity of the micro-batching queue; a full queue answers 503.',
      registers,
    }),
  };
}

/** The model: its predictions and their confidence, the version served and whether it is ready. */
function modelMetrics(
  registers: Registers,
): Pick<ServingMetrics, 'predictions' | 'confidence' | 'modelInfo' | 'modelReady'> {
  return {
    predictions: new Counter({
      name: 'serving_predictions_total',
      help: 'Predictions made, by model, model version and top-1 class.',
      labelNames: ['model', 'version', 'class'],
      registers,
    }),
    confidence: new Histogram({
      name: 'serving_prediction_confidence',
      help: 'Top-1 probability of each prediction.',
      labelNames: ['model', 'version'],
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1],
      registers,
    }),
    modelInfo: new Gauge({
      name: 'serving_model_info',
      help: 'The model version served (value 1), with its root sha256, tfjs backend and execution (graph or layers).',
      labelNames: ['model', 'version', 'sha256', 'backend', 'execution'],
      registers,
    }),
    modelReady: new Gauge({
      name: 'serving_model_ready',
      help: '1 when the model is loaded, verified, warmed up and the server is not shutting down.',
      registers,
    }),
  };
}

/** Drift against the training reference. */
function driftMetrics(
  registers: Registers,
): Pick<
  ServingMetrics,
  'driftScore' | 'driftPredictionPsi' | 'driftMeanConfidence' | 'driftWindowSamples' | 'driftEnabled'
> {
  return {
    driftScore: new Gauge({
      name: 'serving_drift_score',
      help: 'Drift of an input feature against the training reference, by feature and method.',
      labelNames: ['feature', 'method'],
      registers,
    }),
    driftPredictionPsi: new Gauge({
      name: 'serving_drift_prediction_psi',
      help: 'Population stability index of predicted classes against the training reference.',
      registers,
    }),
    driftMeanConfidence: new Gauge({
      name: 'serving_drift_mean_confidence',
      help: 'Mean top-1 probability over the drift window.',
      registers,
    }),
    driftWindowSamples: new Gauge({
      name: 'serving_drift_window_samples',
      help: 'Images in the drift window.',
      registers,
    }),
    driftEnabled: new Gauge({
      name: 'serving_drift_enabled',
      help: '1 when drift is computed; 0 when reference statistics are missing or malformed.',
      registers,
    }),
  };
}

/** The process: decoded pixels and request body bytes in flight and their limits (serving/budget.ts), event-loop stalls. */
function processMetrics(
  registers: Registers,
): Pick<
  ServingMetrics,
  'decodePixelsInFlight' | 'decodePixelsCapacity' | 'bodyBytesInFlight' | 'bodyBytesCapacity' | 'loopBusy'
> {
  return {
    decodePixelsInFlight: new Gauge({
      name: 'serving_decode_pixels_in_flight',
      help: 'Pixels of the images being decoded and preprocessed now, across requests (serving/budget.ts).',
      registers,
    }),
    decodePixelsCapacity: new Gauge({
      name: 'serving_decode_pixels_capacity',
      help: 'Most pixels decoded at once (SERVING_MAX_PIXELS_IN_FLIGHT); past it, 503 with Retry-After.',
      registers,
    }),
    bodyBytesInFlight: new Gauge({
      name: 'serving_body_bytes_in_flight',
      help: 'Bytes of request bodies being read or held now, across requests (serving/budget.ts).',
      registers,
    }),
    bodyBytesCapacity: new Gauge({
      name: 'serving_body_bytes_capacity',
      help: 'Most bytes of request bodies held at once (SERVING_MAX_BODY_BYTES_IN_FLIGHT); past it, 503 with Retry-After.',
      registers,
    }),
    loopBusy: new Histogram({
      name: 'serving_event_loop_busy_seconds',
      help: 'CPU time of the main thread between two ticks of a 10 ms timer: how long the event loop ran without a break (serving/loop-monitor.ts).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}

/** Ground-truth feedback: counts, the live confusion matrix and accuracy, answers kept, labels refused. */
function feedbackMetrics(
  registers: Registers,
): Pick<
  ServingMetrics,
  | 'feedback'
  | 'feedbackConfusion'
  | 'liveAccuracy'
  | 'liveAccuracySamples'
  | 'feedbackRemembered'
  | 'feedbackRefused'
> {
  return {
    feedback: new Counter({
      name: 'serving_feedback_total',
      help: 'Ground-truth labels received (POST /feedback), by model, version and outcome (correct: the top-1 label was the true one).',
      labelNames: ['model', 'version', 'outcome'],
      registers,
    }),
    feedbackConfusion: new Counter({
      name: 'serving_feedback_confusion_total',
      help: 'Ground-truth labels received, by model, version, true class and predicted (top-1) class: the live confusion matrix.',
      labelNames: ['model', 'version', 'true_class', 'predicted_class'],
      registers,
    }),
    liveAccuracy: new Gauge({
      name: 'serving_live_accuracy',
      help: 'Share of correct top-1 labels over the last SERVING_FEEDBACK_WINDOW feedbacks of a model version.',
      labelNames: ['model', 'version'],
      registers,
    }),
    liveAccuracySamples: new Gauge({
      name: 'serving_live_accuracy_samples',
      help: 'Feedbacks in the live-accuracy window of a model version.',
      labelNames: ['model', 'version'],
      registers,
    }),
    feedbackRemembered: new Gauge({
      name: 'serving_feedback_answers_remembered',
      help: 'Recent answers whose images this process keeps for the feedback export without an object store (bounded by SERVING_FEEDBACK_CAPACITY, _MAX_BYTES, _TTL_SECONDS).',
      registers,
    }),
    feedbackRefused: new Counter({
      name: 'serving_feedback_refused_total',
      help: 'Labels refused by POST /feedback, by reason: duplicate (already counted), unverified (a feedback_id this service did not sign), expired, other_model, unauthenticated, rate_limited (over SERVING_FEEDBACK_RATE_PER_MINUTE from one client).',
      labelNames: ['reason'],
      registers,
    }),
  };
}

/** Payload capture (capture/v1): records written, answers dropped, bytes queued. */
function captureMetrics(
  registers: Registers,
): Pick<ServingMetrics, 'captureRecords' | 'captureDropped' | 'captureQueueBytes'> {
  return {
    captureRecords: new Counter({
      name: 'serving_capture_records_total',
      help: 'Answers written to the object store by payload capture (capture/v1).',
      registers,
    }),
    captureDropped: new Counter({
      name: 'serving_capture_dropped_total',
      help: 'Sampled answers payload capture did not write, by reason: queue_full (the bounded queue was full), store_error (the store refused or did not answer), shutdown (not written by the shutdown deadline).',
      labelNames: ['reason'],
      registers,
    }),
    captureQueueBytes: new Gauge({
      name: 'serving_capture_queue_bytes',
      help: 'Bytes of records and images waiting to be written by payload capture (bounded by SERVING_CAPTURE_QUEUE_BYTES).',
      registers,
    }),
  };
}

/** Shadow traffic (serving/shadow.ts): mirrored requests, agreement per image, the challenger's labelled answers. */
function shadowMetrics(
  registers: Registers,
): Pick<ServingMetrics, 'shadowRequests' | 'shadowImages' | 'shadowFeedback'> {
  return {
    shadowRequests: new Counter({
      name: 'serving_shadow_requests_total',
      help: 'Answers mirrored to the challenger (SERVING_SHADOW_URL), by champion version, challenger version and outcome: answered, error (no answer in time, or not a /predict answer), dropped (SERVING_SHADOW_MAX_IN_FLIGHT were running); store_error counts answered pairs that could not be kept.',
      labelNames: ['model', 'version', 'shadow_version', 'outcome'],
      registers,
    }),
    shadowImages: new Counter({
      name: 'serving_shadow_images_total',
      help: 'Images answered by both champion and challenger, by outcome: agree (the same top-1 class) or disagree.',
      labelNames: ['model', 'version', 'shadow_version', 'outcome'],
      registers,
    }),
    shadowFeedback: new Counter({
      name: 'serving_shadow_feedback_total',
      help: "Labels of mirrored answers scored against the challenger's answer, by challenger version (version), champion version and outcome (correct: the challenger's top-1 class was the true one).",
      labelNames: ['model', 'version', 'champion_version', 'outcome'],
      registers,
    }),
  };
}

/** tfjs tensors alive now, per thread, read from `tensors` at scrape. */
function tensorsGauge(registers: Registers, tensors: MetricsOptions['tensors']): ServingMetrics['tensors'] {
  return new Gauge({
    name: 'serving_tfjs_tensors',
    help: 'tfjs tensors alive now, by thread (main; worker when inference runs in the worker thread).',
    labelNames: ['thread'],
    registers,
    async collect() {
      if (!tensors) return;
      const counts = await tensors();
      this.reset();
      for (const [thread, n] of Object.entries(counts)) if (n !== undefined) this.set({ thread }, n);
    },
  });
}
