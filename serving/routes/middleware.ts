/**
 * The middleware around every route, outermost first: the request id, the
 * security headers and the HTTP metrics ({@link requestContext}; a request no
 * route took is labelled `unmatched`, load shed is counted apart); the one
 * error handler that turns a thrown error into the JSON answer
 * ({@link errorHandler}); and the answer for a request no route took, a 405
 * with `Allow` or a 404 ({@link unmatched}).
 */
import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import { httpStatusOf, isProjectError, ProjectError } from '../../platform/index.ts';
import type { ReserveBytes } from '../body.ts';
import type { InFlightBudget } from '../budget.ts';
import type { Logger } from '../logger.ts';
import type { ServingMetrics } from '../metrics.ts';
import { applySecurityHeaders } from '../security.ts';

/** A request id a client may choose (X-Request-Id); anything else is replaced by a fresh UUID. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Security headers, the request id (ctx.state.requestId, X-Request-Id) and the HTTP metrics of each request. */
export function requestContext(metrics: ServingMetrics): Koa.Middleware {
  return async (ctx, next) => {
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
      // Load shed by a route (OVERLOADED): traffic's fault, not the version's; the SLO subtracts it.
      if (ctx.state.errorCode === 'OVERLOADED' && labels.route !== 'unmatched') metrics.httpShed.inc();
      end(labels);
    }
  };
}

/**
 * The process's budget of request body bytes (SERVING_MAX_BODY_BYTES_IN_FLIGHT):
 * a route reads its body with {@link reserveBody}, and every byte it reserved
 * is given back when the request is done, however it ends.
 */
export function bodyBudget(budget: InFlightBudget): Koa.Middleware {
  return async (ctx, next) => {
    const releases: (() => void)[] = [];
    const reserve: ReserveBytes = (bytes) => {
      releases.push(budget.reserve(bytes));
    };
    ctx.state.reserveBody = reserve;
    try {
      await next();
    } finally {
      for (const release of releases) release();
    }
  };
}

/** The request's share of the body budget ({@link bodyBudget}), for readRawBody and readMultipartFiles. */
export function reserveBody(ctx: Koa.Context): ReserveBytes | undefined {
  return ctx.state.reserveBody as ReserveBytes | undefined;
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

/** Log a 5xx (other than a full queue) with its detail, under the request id. */
function logServerError(logger: Logger, ctx: Koa.Context, e: unknown, code: string): void {
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

/** The one error handler: every thrown error becomes a JSON answer ({@link clientError}). */
export function errorHandler(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (e) {
      const { status, message } = clientError(e, ctx.state.requestId as string);
      const code = isProjectError(e) ? e.code : 'INTERNAL';
      ctx.state.errorCode = code;
      if (status >= 500 && code !== 'OVERLOADED') logServerError(logger, ctx, e, code);
      ctx.status = status;
      const retryAfter = (isProjectError(e) ? e.details : undefined) as
        | { retryAfterSeconds?: number }
        | undefined;
      if (isProjectError(e) && (e.code === 'OVERLOADED' || retryAfter?.retryAfterSeconds)) {
        ctx.set('Retry-After', String(retryAfter?.retryAfterSeconds ?? 1));
      }
      // A body left unread (413 told by Content-Length, a body over the budget) cannot be
      // reused: close the connection.
      if (status === 413 || (code === 'OVERLOADED' && !ctx.req.complete)) ctx.set('Connection', 'close');
      ctx.body = ctx.path.startsWith('/v2')
        ? { error: message }
        : { error: message, code, request_id: ctx.state.requestId };
    }
  };
}

/**
 * Unmatched: 405 (with Allow) for a known path, else 404. The router's
 * allowedMethods decides after the routes, so this runs outside them and
 * throws on the way out.
 */
export function unmatched(): Koa.Middleware {
  return async (ctx, next) => {
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
  };
}
