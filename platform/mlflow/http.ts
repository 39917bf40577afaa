import { sleep } from '../clock.ts';
import { ProjectError } from '../errors.ts';
import { redactSecrets, redactText } from '../redact.ts';
import { authorizationFor, type MlflowAuth, secretsOf } from './auth.ts';
import { backoffDelayMs, DEFAULT_RETRY, isRetryableStatus, type RetryPolicy } from './retry.ts';
import type { MlflowErrorBody } from './types.ts';

export type { MlflowAuth };

/** Everything the HTTP layer needs; side effects are fields so tests can replace them. */
export interface HttpOptions {
  /** Tracking server base URL, without credentials (see {@link splitCredentials}). */
  baseUrl: string;
  auth?: MlflowAuth;
  retry?: Partial<RetryPolicy>;
  /** Per-attempt timeout in ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called before each retry, e.g. to print "retrying in 2s". Never given credentials. */
  onRetry?: (info: { url: string; attempt: number; delayMs: number; reason: string }) => void;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the base URL, e.g. `/api/2.0/mlflow/runs/create`. */
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: Uint8Array;
  /** Return the raw bytes instead of parsing JSON. */
  raw?: boolean;
}

/** MLflow error codes mapped onto the project's error codes. */
const NOT_FOUND_CODES = new Set(['RESOURCE_DOES_NOT_EXIST', 'NOT_FOUND']);
const CONFLICT_CODES = new Set(['RESOURCE_ALREADY_EXISTS']);

/**
 * Remove `user:password@` from a URL, returning the clean URL and the
 * credentials (basic auth) it carried. Every message names the clean URL only.
 */
export function splitCredentials(url: string): { url: string; auth?: MlflowAuth } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // No cause: the URL parser's error holds the raw URI, credentials included.
    throw new ProjectError('INVALID', `tracking URI "${redactText(url)}" is not a URL`, {
      subject: 'MLFLOW_TRACKING_URI',
      hint: 'set MLFLOW_TRACKING_URI to http(s)://host:port of the MLflow server',
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ProjectError('INVALID', `tracking URI ${u.protocol}//${u.host}${u.pathname} is not http(s)`, {
      subject: 'MLFLOW_TRACKING_URI',
      hint: 'set MLFLOW_TRACKING_URI to http(s)://host:port of the MLflow server, or unset it to use the local store',
    });
  }
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  const clean = u.toString().replace(/\/+$/, '');
  return username || password ? { url: clean, auth: { kind: 'basic', username, password } } : { url: clean };
}

/** The low-level JSON/bytes client: auth header, timeout, retries, redaction, typed errors. */
export class MlflowHttp {
  readonly baseUrl: string;
  readonly #auth?: MlflowAuth;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #onRetry?: HttpOptions['onRetry'];

  constructor(options: HttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#auth = options.auth;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#fetch = options.fetch ?? fetch;
    this.#sleep = options.sleep ?? sleep;
    this.#random = options.random ?? Math.random;
    this.#onRetry = options.onRetry;
  }

  /** Replace every secret we hold by `***`, in any text that may reach a log or an error. */
  redact(text: string): string {
    return redactSecrets(text, secretsOf(this.#auth));
  }

  #headers(req: HttpRequest, url: string): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' };
    if (req.json !== undefined) h['content-type'] = 'application/json';
    if (req.body !== undefined) h['content-type'] = 'application/octet-stream';
    const authorization = authorizationFor(url, { trackingUri: this.baseUrl, auth: this.#auth });
    if (authorization) h.authorization = authorization;
    return h;
  }

  urlOf(req: Pick<HttpRequest, 'path' | 'query'>): string {
    const u = new URL(this.baseUrl + req.path);
    for (const [k, v] of Object.entries(req.query ?? {}))
      if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** Send a request; JSON in and out unless `raw`. Retries per the policy; throws ProjectError. */
  async request<T>(req: HttpRequest): Promise<T> {
    const url = this.urlOf(req);
    const what = `${req.method} ${url}`;
    const body: BodyInit | undefined =
      req.json !== undefined ? JSON.stringify(req.json) : (req.body as Uint8Array<ArrayBuffer> | undefined);
    for (let attempt = 0; ; attempt++) {
      let reason = '';
      let status: number | undefined;
      /** The network error of this attempt, kept as the cause of the last one's error. */
      let failure: unknown;
      try {
        const res = await this.#fetch(url, {
          method: req.method,
          headers: this.#headers(req, url),
          body,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        if (res.ok) {
          if (req.raw) return new Uint8Array(await res.arrayBuffer()) as T;
          const text = await res.text();
          return (text ? JSON.parse(text) : {}) as T;
        }
        status = res.status;
        const text = this.redact(await res.text().catch(() => ''));
        let parsed: MlflowErrorBody = {};
        try {
          parsed = JSON.parse(text) as MlflowErrorBody;
        } catch {
          // not JSON (a proxy's HTML page): keep the start of the text
        }
        reason = `HTTP ${res.status}${parsed.error_code ? ` ${parsed.error_code}` : ''}: ${
          parsed.message ?? text.slice(0, 300)
        }`.trim();
        if (!isRetryableStatus(res.status)) throw this.#statusError(what, res.status, parsed, reason);
      } catch (e) {
        if (e instanceof ProjectError) throw e;
        if (e instanceof SyntaxError && status === undefined) {
          throw new ProjectError(
            'UNAVAILABLE',
            `${what}: the answer is not JSON; is ${this.baseUrl} an MLflow server?`,
            {
              subject: this.baseUrl,
              hint: 'check MLFLOW_TRACKING_URI',
              cause: e,
            },
          );
        }
        if (status === undefined) {
          reason = describeNetworkError(e);
          failure = e;
        } else reason ||= `HTTP ${status}`;
      }
      reason = this.redact(reason);
      if (attempt >= this.#retry.maxRetries) {
        throw new ProjectError(
          'UNAVAILABLE',
          `${what} failed after ${attempt + 1} attempt${attempt ? 's' : ''}: ${reason}`,
          {
            subject: this.baseUrl,
            hint: `check that the MLflow server at ${this.baseUrl} is up and reachable (MLFLOW_TRACKING_URI), then retry`,
            details: { status, url },
            cause: failure,
          },
        );
      }
      const delayMs = backoffDelayMs(this.#retry, attempt, this.#random);
      this.#onRetry?.({ url, attempt: attempt + 1, delayMs, reason });
      await this.#sleep(delayMs);
    }
  }

  #statusError(what: string, status: number, body: MlflowErrorBody, reason: string): ProjectError {
    const details = { status, errorCode: body.error_code };
    if (status === 401 || status === 403) {
      return new ProjectError('UNAVAILABLE', `${what}: ${reason}`, {
        subject: this.baseUrl,
        hint: 'check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD for this server',
        details,
      });
    }
    if (status === 404 || NOT_FOUND_CODES.has(body.error_code ?? '')) {
      return new ProjectError('NOT_FOUND', `${what}: ${reason}`, { subject: this.baseUrl, details });
    }
    if (CONFLICT_CODES.has(body.error_code ?? '')) {
      return new ProjectError('CONFLICT', `${what}: ${reason}`, { subject: this.baseUrl, details });
    }
    return new ProjectError('INVALID', `${what}: ${reason}`, { subject: this.baseUrl, details });
  }
}

function describeNetworkError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timed out';
  const code = err?.cause?.code;
  return code ? `${err.message} (${code})` : (err?.message ?? String(e));
}
