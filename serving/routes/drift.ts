/** `GET /api/drift`: the drift of the window now, with thresholds and verdicts (docs/drift.md). */
import Router from '@koa/router';
import type { RouteDeps } from './deps.ts';

export function driftRouter({ drift }: Pick<RouteDeps, 'drift'>): Router {
  const router = new Router();
  router.get('/api/drift', (ctx) => {
    ctx.body = drift.enabled
      ? { enabled: true, ...drift.result() }
      : { enabled: false, reason: drift.disabledReason ?? null };
  });
  return router;
}
