/**
 * Health: liveness is the process answering (and inference not given up on);
 * readiness is warm, inference available and not shutting down
 * (docs/serving.md "Health").
 */
import Router from '@koa/router';
import type { RouteDeps } from './deps.ts';

export function healthRouter({ model, lifecycle }: Pick<RouteDeps, 'model' | 'lifecycle'>): Router {
  const router = new Router();
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
  return router;
}
