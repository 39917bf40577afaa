/** `GET /metrics`: the Prometheus exposition of the app's registry (serving/metrics.ts names them). */
import Router from '@koa/router';
import type { RouteDeps } from './deps.ts';

export function metricsRouter({ registry }: Pick<RouteDeps, 'registry'>): Router {
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  return router;
}
