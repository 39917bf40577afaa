/**
 * The few typed errors of the project. Each carries the data a message needs
 * (file, field, model, URL) and maps to one exit code and one HTTP status, in
 * one place: {@link exitCodeOf} and {@link httpStatusOf}.
 */
export type ErrorCode =
  | 'USAGE' // bad flags or arguments: exit 2
  | 'INVALID' // input that fails its schema or format: config, lock file, image, request body
  | 'NOT_FOUND' // a file, model, version or run that does not exist
  | 'DIGEST_MISMATCH' // an artifact file whose sha256 is not the pinned one
  | 'CONFLICT' // a concurrent write, a duplicate version, a push race that did not resolve
  | 'GATE_FAILED' // a promotion gate that refused a candidate
  | 'UNAVAILABLE' // a service (MLflow, cluster, registry) that does not answer
  | 'TOO_LARGE' // an upload over a size or pixel limit
  | 'UNSUPPORTED_MEDIA' // a content type that is not accepted
  | 'UNAUTHORIZED' // a request without the credentials an endpoint needs
  | 'OVERLOADED' // a full queue
  | 'RATE_LIMITED' // one client over its rate (HTTP 429, with Retry-After)
  | 'INTERRUPTED'; // Ctrl-C or SIGTERM during long work

export interface ProjectErrorOptions {
  /** What the message is about: a file path, a field, a model name, a URL. */
  subject?: string;
  /** The 1-based line of `subject` (a file) the error is at, when known: an Actions annotation points there. */
  line?: number;
  /** What the user should do next, appended to the message. */
  hint?: string;
  /** Machine-readable detail, e.g. every offending field from ajv. */
  details?: unknown;
  cause?: unknown;
  /** Safe to show a client (HTTP body), as Koa's `expose`. */
  expose?: boolean;
}

export class ProjectError extends Error {
  readonly code: ErrorCode;
  readonly subject?: string;
  readonly line?: number;
  readonly hint?: string;
  readonly details?: unknown;
  readonly expose: boolean;

  constructor(code: ErrorCode, message: string, options: ProjectErrorOptions = {}) {
    super(options.hint ? `${message}\n  → ${options.hint}` : message, { cause: options.cause });
    this.name = 'ProjectError';
    this.code = code;
    this.subject = options.subject;
    this.line = options.line;
    this.hint = options.hint;
    this.details = options.details;
    this.expose = options.expose ?? code !== 'UNAVAILABLE';
  }
}

export const isProjectError = (e: unknown): e is ProjectError => e instanceof ProjectError;

/** Exit codes of every script: 0 success, 1 failure, 2 bad usage. */
export function exitCodeOf(e: unknown): 1 | 2 {
  return isProjectError(e) && e.code === 'USAGE' ? 2 : 1;
}

const HTTP_STATUS: Record<ErrorCode, number> = {
  USAGE: 400,
  INVALID: 400,
  NOT_FOUND: 404,
  DIGEST_MISMATCH: 500,
  CONFLICT: 409,
  GATE_FAILED: 422,
  UNAVAILABLE: 503,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA: 415,
  UNAUTHORIZED: 401,
  OVERLOADED: 503,
  RATE_LIMITED: 429,
  INTERRUPTED: 503,
};

export function httpStatusOf(e: unknown): number {
  return isProjectError(e) ? HTTP_STATUS[e.code] : 500;
}
