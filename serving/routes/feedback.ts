/**
 * Ground-truth feedback (serving/feedback.ts, docs/serving.md "Feedback"):
 * `POST /feedback` labels an image of an earlier answer, given by this
 * replica or any other, by the answer's signed `feedback_id`; a label counts
 * once. `GET /feedback/export` gives the labelled images as new training
 * data (JSON Lines) to whoever holds the export token: from the object store
 * when one is configured, else from this process's memory.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import Router from '@koa/router';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { compileValidator, isProjectError, ProjectError } from '../../platform/index.ts';
import { parseJson, readRawBody, unsupportedMedia } from '../body.ts';
import type { ExportedFeedback, LabelRecord } from '../feedback.ts';
import type { RouteDeps } from './deps.ts';
import { reserveBody } from './middleware.ts';

const validateFeedbackBody = compileValidator<{ feedback_id: string; label: string; index?: number }>({
  type: 'object',
  required: ['feedback_id', 'label'],
  additionalProperties: false,
  properties: {
    feedback_id: { type: 'string', minLength: 1, maxLength: 16_384 },
    label: { type: 'string', minLength: 1, maxLength: 256 },
    index: { type: 'integer', minimum: 0, maximum: 1_000_000 },
  },
});

/** `Authorization: Bearer <token>` equal to `token`, compared in constant time. */
export function bearerMatches(header: string, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(header)?.[1] ?? '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return given !== '' && timingSafeEqual(a, b);
}

/** The body of POST /feedback, with the old field named for what replaced it. */
function feedbackBody(raw: unknown) {
  if (raw && typeof raw === 'object' && 'request_id' in raw && !('feedback_id' in raw)) {
    throw new ProjectError(
      'INVALID',
      'feedback is given by the answer\'s "feedback_id", not its "request_id" (a request id can be chosen by a client; the feedback id is signed by the server)',
      {
        subject: 'feedback_id',
        hint: 'send {"feedback_id": <the feedback_id of the /predict answer>, "label": ...}',
      },
    );
  }
  return validateFeedbackBody(raw, 'feedback');
}

type FeedbackDeps = Pick<
  RouteDeps,
  | 'model'
  | 'config'
  | 'metrics'
  | 'accuracy'
  | 'feedbackIds'
  | 'labels'
  | 'images'
  | 'capturedImage'
  | 'pod'
  | 'shadow'
>;

/** Count a refusal by its reason (serving_feedback_refused_total) and throw its error. */
type Refuse = (reason: string, e: ProjectError) => never;

/**
 * At most `perMinute` labels a minute from one client address (a token bucket
 * refilled over the minute, in memory, per replica); over it, 429 with
 * Retry-After, counted as `rate_limited`. 0: no limit.
 * @see https://github.com/animir/node-rate-limiter-flexible
 */
function rateLimit(perMinute: number, refuse: Refuse): (client: string) => Promise<void> {
  if (perMinute <= 0) return async () => {};
  const limiter = new RateLimiterMemory({ points: perMinute, duration: 60 });
  return async (client) => {
    try {
      await limiter.consume(client);
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      const retryAfterSeconds = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      refuse(
        'rate_limited',
        new ProjectError('RATE_LIMITED', `more than ${perMinute} labels a minute from ${client}`, {
          details: { retryAfterSeconds },
          hint: `send labels more slowly: retry after ${retryAfterSeconds} s`,
          cause: e,
        }),
      );
    }
  };
}

export function feedbackRouter(deps: FeedbackDeps): Router {
  const { config, metrics } = deps;
  const enabled = config.feedback.capacity > 0;
  const router = new Router();
  const refuse: Refuse = (reason, e) => {
    metrics.feedbackRefused.inc({ reason });
    throw e;
  };
  const limit = rateLimit(config.feedback.ratePerMinute, refuse);
  router.post('/feedback', async (ctx) => {
    if (!enabled) {
      throw new ProjectError('NOT_FOUND', 'feedback is off on this server (SERVING_FEEDBACK_CAPACITY=0)');
    }
    const token = config.feedback.token;
    if (token && !bearerMatches(ctx.get('authorization'), token)) {
      ctx.set('WWW-Authenticate', 'Bearer');
      refuse(
        'unauthenticated',
        new ProjectError('UNAUTHORIZED', "feedback on this server needs the labellers' token", {
          hint: 'send Authorization: Bearer <SERVING_FEEDBACK_TOKEN>',
        }),
      );
    }
    await limit(ctx.ip);
    const type = ctx.request.type;
    if (type !== 'application/json') throw unsupportedMedia(type);
    const body = feedbackBody(parseJson(await readRawBody(ctx.req, 64 * 1024, reserveBody(ctx))));
    const claims = verifiedClaims(body.feedback_id, deps, refuse);
    const record = labelRecord(body, claims, deps);
    try {
      await deps.labels.record(record);
    } catch (e) {
      if (isProjectError(e) && e.code === 'CONFLICT') refuse('duplicate', e);
      throw e;
    }
    const { accuracy } = deps;
    countLabel(record, deps);
    // With shadow traffic, the challenger's answer to this image is scored too (off the request path).
    if (deps.shadow) void deps.shadow.scoreLabel(record);
    ctx.body = {
      answer_id: record.answer_id,
      request_id: record.request_id,
      index: record.index,
      label: record.label,
      predicted: record.predicted,
      correct: record.correct,
      version: record.version,
      counted: true,
      live_accuracy: accuracy.samples ? accuracy.accuracy : null,
      live_accuracy_samples: accuracy.samples,
    };
  });
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
    ctx.body = Readable.from(exportLines(deps));
  });
  return router;
}

type Claims = ReturnType<RouteDeps['feedbackIds']['verify']>;

/** The claims of a feedback id this service signed, of the model it serves, not older than the TTL; else a counted refusal. */
function verifiedClaims(
  feedbackId: string,
  { feedbackIds, model, config }: FeedbackDeps,
  refuse: Refuse,
): Claims {
  let claims: Claims;
  try {
    claims = feedbackIds.verify(feedbackId);
  } catch (e) {
    throw refuse('unverified', e as ProjectError);
  }
  if (claims.model !== model.name) {
    refuse(
      'other_model',
      new ProjectError(
        'INVALID',
        `feedback_id is of an answer of model "${claims.model}"; this server serves "${model.name}"`,
        {
          subject: 'feedback_id',
        },
      ),
    );
  }
  const age = Date.now() - claims.at;
  if (age > config.feedback.ttlMs) {
    refuse(
      'expired',
      new ProjectError(
        'INVALID',
        `feedback_id is of an answer given at ${new Date(claims.at).toISOString()}, more than ${Math.round(config.feedback.ttlMs / 1000)} s ago (SERVING_FEEDBACK_TTL_SECONDS): too old to take feedback`,
        { subject: 'feedback_id', hint: 'send feedback soon after the answer' },
      ),
    );
  }
  return claims;
}

/** The feedback/v1 record of a label of image `index` of the answer the claims describe; INVALID for an index or label that is not one. */
function labelRecord(
  body: { label: string; index?: number },
  claims: Claims,
  { model, pod }: FeedbackDeps,
): LabelRecord {
  const index = body.index ?? 0;
  const predicted = claims.predicted[index];
  if (predicted === undefined) {
    throw new ProjectError(
      'INVALID',
      `that answer was for ${claims.predicted.length} image(s); index ${index} is not one of them`,
      { subject: 'index', hint: `index is 0-based, from 0 to ${claims.predicted.length - 1}` },
    );
  }
  if (!model.labels.includes(body.label)) {
    throw new ProjectError(
      'INVALID',
      `label "${body.label}" is not one of the model's labels (${model.labels.join(', ')})`,
      { subject: 'label' },
    );
  }
  return {
    schema: 'feedback/v1',
    answer_id: claims.answerId,
    request_id: claims.requestId,
    index,
    label: body.label,
    predicted,
    correct: body.label === predicted,
    model: claims.model,
    version: claims.version,
    image_sha256: claims.sha256[index] ?? '',
    answered_at: new Date(claims.at).toISOString(),
    labelled_at: new Date().toISOString(),
    pod,
  };
}

/** Count a recorded label in the feedback counters and, when of the version served, in the live-accuracy window. */
function countLabel(record: LabelRecord, { model, metrics, accuracy }: FeedbackDeps): void {
  // Counted here, by the replica that recorded it: the sum over pods is the labels received.
  const versionLabels = { model: record.model, version: record.version };
  metrics.feedback.inc({ ...versionLabels, outcome: record.correct ? 'correct' : 'incorrect' });
  metrics.feedbackConfusion.inc({
    ...versionLabels,
    true_class: record.label,
    predicted_class: record.predicted,
  });
  // This pod's window is of the version it serves (an answer of another version counts in the counters only).
  if (record.version === model.version) {
    const live = accuracy.add(record.correct);
    metrics.liveAccuracy.set(versionLabels, live);
    metrics.liveAccuracySamples.set(versionLabels, accuracy.samples);
  }
}

/** The export, one JSON line per label whose image is still there. */
async function* exportLines({ labels, capturedImage, images }: FeedbackDeps): AsyncGenerator<string> {
  for await (const r of labels.list()) {
    // The image: the captured copy (object store), else this process's memory.
    const image = (await capturedImage(r.image_sha256)) ?? images.get(r.answer_id, r.index);
    if (!image) continue;
    const line: ExportedFeedback = {
      answer_id: r.answer_id,
      request_id: r.request_id,
      index: r.index,
      label: r.label,
      predicted: r.predicted,
      version: r.version,
      labelled_at: r.labelled_at,
      image_sha256: r.image_sha256,
      content_type: image.contentType,
      image_base64: Buffer.from(image.bytes).toString('base64'),
    };
    yield `${JSON.stringify(line)}\n`;
  }
}
