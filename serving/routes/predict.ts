/**
 * `POST /predict`: one image (raw PNG/JPEG body, or a multipart field
 * "image") or several (multipart, or JSON `{"images": [<base64>, ...]}`),
 * answered with the top-k labels of each; the answer is remembered for
 * ground-truth feedback (docs/serving.md "Predict").
 */
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type Koa from 'koa';
import { buildCaptureRecord, imageContentType, topK } from '../../model/capture.ts';
import { compileValidator, ProjectError } from '../../platform/index.ts';
import { decodeBase64, parseJson, readMultipartFiles, readRawBody, unsupportedMedia } from '../body.ts';
import type { CaptureEntry } from '../capture.ts';
import type { ServingConfig } from '../config.ts';
import { newAnswerId } from '../feedback-id.ts';
import { classifyImages } from '../inference.ts';
import { SHADOW_OF_HEADER } from '../shadow.ts';
import type { RouteDeps } from './deps.ts';
import { reserveBody } from './middleware.ts';

const validateImagesBody = compileValidator<{ images: string[] }>({
  type: 'object',
  required: ['images'],
  additionalProperties: false,
  properties: { images: { type: 'array', minItems: 1, items: { type: 'string' } } },
});

interface PredictInputs {
  images: Uint8Array[];
  /** The name each image's errors use. */
  sources: string[];
  /** Whether the request sent a list (the answer is then a list too). */
  list: boolean;
}

async function multipartInputs(ctx: Koa.Context, limits: ServingConfig['limits']): Promise<PredictInputs> {
  const files = await readMultipartFiles(
    ctx.req,
    'image',
    { maxBytes: limits.maxBodyBytes, maxFiles: limits.maxImagesPerRequest },
    reserveBody(ctx),
  );
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

async function jsonInputs(ctx: Koa.Context, limits: ServingConfig['limits']): Promise<PredictInputs> {
  const { images } = validateImagesBody(
    parseJson(await readRawBody(ctx.req, limits.maxBodyBytes, reserveBody(ctx))),
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

/** Images of a /predict request, with the name each error should use, and whether it was a list. */
async function predictInputs(ctx: Koa.Context, limits: ServingConfig['limits']): Promise<PredictInputs> {
  const type = ctx.request.type;
  if (type === 'image/png' || type === 'image/jpeg') {
    const body = await readRawBody(ctx.req, limits.maxBodyBytes, reserveBody(ctx));
    return { images: [new Uint8Array(body)], sources: ['request body'], list: false };
  }
  if (type === 'multipart/form-data') return multipartInputs(ctx, limits);
  if (type === 'application/json') return jsonInputs(ctx, limits);
  throw unsupportedMedia(type);
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

/** What payload capture (capture/v1) records of one answer, with its images; an image over the limit is recorded but not stored. */
function captureOf(
  a: {
    answerId: string;
    requestId: string;
    at: number;
    model: RouteDeps['model'];
    pod: RouteDeps['pod'];
    latencyMs: number;
    images: Uint8Array[];
    sha256: string[];
    ranked: ReturnType<typeof topK>[];
  },
  config: ServingConfig,
): CaptureEntry {
  return {
    record: buildCaptureRecord({
      answerId: a.answerId,
      requestId: a.requestId,
      at: a.at,
      model: a.model.name,
      version: a.model.version,
      pod: a.pod,
      latencyMs: a.latencyMs,
      images: a.images.map((bytes, i) => ({ bytes, sha256: a.sha256[i] as string })),
      maxImageBytes: config.capture.maxImageBytes,
      predictions: a.ranked,
    }),
    images: a.images,
  };
}

type PredictDeps = Pick<
  RouteDeps,
  | 'model'
  | 'config'
  | 'batcher'
  | 'metrics'
  | 'budget'
  | 'drift'
  | 'feedbackIds'
  | 'images'
  | 'capture'
  | 'shadow'
  | 'pod'
>;

/** One answer of /predict, as what follows it (feedback, capture, shadow traffic) needs it. */
interface Answer {
  answerId: string;
  requestId: string;
  at: number;
  images: Uint8Array[];
  sha256: string[];
  ranked: ReturnType<typeof topK>[];
  /** When the route received the request (performance.now()). */
  started: number;
}

const topOnes = (a: Answer): string[] => a.ranked.map((r) => r[0]?.label ?? '');

/**
 * The answer's feedback id, signed so any replica can score a label of it
 * (serving/feedback-id.ts); without a store its images are kept in memory for
 * the export. Undefined when feedback is off.
 */
function feedbackIdOf(a: Answer, { model, config, feedbackIds, images: recent, metrics }: PredictDeps) {
  if (config.feedback.capacity <= 0) return undefined;
  if (recent.enabled) {
    // A copy: a view would pin the whole body.
    recent.remember(
      a.answerId,
      a.images.map((b) => ({ bytes: Buffer.from(b), contentType: imageContentType(b) })),
    );
    metrics.feedbackRemembered.set(recent.size.answers);
  }
  return feedbackIds.sign({
    answerId: a.answerId,
    requestId: a.requestId,
    model: model.name,
    version: model.version,
    at: a.at,
    predicted: topOnes(a),
    sha256: a.sha256,
  });
}

/** Off the request path: the sampled capture record, and the mirror to the challenger (never of a mirror). */
function afterAnswer(
  a: Answer,
  mirrored: boolean,
  { model, config, capture, shadow, pod }: PredictDeps,
): void {
  if (capture?.sampled()) {
    capture.offer(captureOf({ ...a, model, pod, latencyMs: performance.now() - a.started }, config));
  }
  if (shadow && !mirrored) {
    shadow.mirror({
      answerId: a.answerId,
      requestId: a.requestId,
      at: a.at,
      images: a.images,
      predicted: topOnes(a),
    });
  }
}

export function predictRouter(deps: PredictDeps): Router {
  const { model, config, batcher, metrics, budget, drift } = deps;
  const router = new Router();
  router.post('/predict', async (ctx) => {
    const started = performance.now();
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
    const answer: Answer = {
      answerId: newAnswerId(),
      requestId: ctx.state.requestId as string,
      at: Date.now(),
      images,
      sha256: images.map((b) => createHash('sha256').update(b).digest('hex')),
      ranked: outputs.map((p) => topK(p, model.labels, k)),
      started,
    };
    const feedbackId = feedbackIdOf(answer, deps);
    afterAnswer(answer, Boolean(ctx.get(SHADOW_OF_HEADER)), deps);
    ctx.body = {
      model: model.name,
      version: model.version,
      request_id: answer.requestId,
      ...(feedbackId ? { feedback_id: feedbackId } : {}),
      predictions: list ? answer.ranked : answer.ranked[0],
    };
  });
  return router;
}
