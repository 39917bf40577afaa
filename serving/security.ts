/**
 * Response headers every answer carries, and the raw error answers written
 * straight to a socket when Node's HTTP parser refuses a request before Koa
 * sees it (bad request line, header flood, header or request timeout, the
 * connection cap): those get the same headers and a JSON error body too.
 *
 * No `Strict-Transport-Security`: the server speaks plain HTTP behind the
 * cluster's ingress, which terminates TLS and owns HSTS.
 *
 * @see https://owasp.org/www-project-secure-headers/ OWASP Secure Headers Project
 * @see https://www.w3.org/TR/CSP3/#directive-frame-ancestors frame-ancestors
 */
import { randomUUID } from 'node:crypto';

/**
 * Defaults for every answer: JSON and metrics are not to be sniffed, framed,
 * cached or sent a referrer; the CSP of an API answer allows nothing (the
 * page's routes replace it with {@link PAGE_CSP}, and set their own Cache-Control).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cache-Control': 'no-store',
};

/** The web page's policy: its own scripts, styles and API only; uploaded previews as data:/blob: images. */
export const PAGE_CSP =
  "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Set {@link SECURITY_HEADERS} through `set` (Koa's ctx.set, or a raw header map). */
export function applySecurityHeaders(set: (name: string, value: string) => void): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) set(name, value);
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/**
 * A complete HTTP/1.1 error answer with a JSON body, the security headers
 * and `Connection: close`, for writing to a socket Koa never saw.
 */
export function rawErrorResponse(
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
): string {
  const requestId = randomUUID();
  const body = `${JSON.stringify({ error: message, code, request_id: requestId })}\n`;
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Request-Id': requestId,
    Connection: 'close',
    ...extra,
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n${head}\r\n\r\n${body}`;
}
