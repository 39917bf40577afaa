/**
 * Ground-truth feedback (serving/feedback.ts, docs/serving.md "Feedback"):
 * `POST /feedback` labels an earlier answer and updates live accuracy;
 * `GET /feedback/export` gives the labelled images as new training data
 * (JSON Lines) to whoever holds the export token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import Router from '@koa/router';
import { compileValidator, ProjectError } from '../../platform/index.ts';
import { parseJson, readRawBody, unsupportedMedia } from '../body.ts';
import type { RouteDeps } from './deps.ts';
import { REQUEST_ID, reserveBody } from './middleware.ts';

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

export function feedbackRouter(
  deps: Pick<RouteDeps, 'model' | 'config' | 'metrics' | 'feedback' | 'accuracy'>,
): Router {
  const { model, config, metrics, feedback, accuracy } = deps;
  const versionLabels = { model: model.name, version: model.version };
  const router = new Router();
  router.post('/feedback', async (ctx) => {
    if (!feedback.enabled) {
      throw new ProjectError('NOT_FOUND', 'feedback is off on this server (SERVING_FEEDBACK_CAPACITY=0)');
    }
    const type = ctx.request.type;
    if (type !== 'application/json') throw unsupportedMedia(type);
    const body = validateFeedbackBody(
      parseJson(await readRawBody(ctx.req, 64 * 1024, reserveBody(ctx))),
      'feedback',
    );
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
  return router;
}
