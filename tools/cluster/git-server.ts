/**
 * A Git server for the local cluster: git's own `git http-backend` (the CGI
 * program behind git's "smart HTTP" protocol) behind a small Node HTTP
 * handler, so that Argo CD's repo-server and applicationset-controller can
 * clone and fetch this repository over http://127.0.0.1.
 *
 * One repository is served, at `/<name>.git`; every other path is 404.
 * Pushes (git-receive-pack) are refused unless `receivePack` is set.
 *
 * Specs: https://git-scm.com/docs/git-http-backend (the CGI environment it
 * reads), https://git-scm.com/docs/http-protocol, RFC 3875 (CGI responses:
 * a `Status:` header, then headers, a blank line and the body).
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname } from 'node:path';

export interface GitHttpOptions {
  /** The repository's git directory: a bare repository, or a checkout's `.git` (git rev-parse --git-common-dir). */
  gitDir: string;
  /** URL name: the repository is served at /<name>.git. */
  name: string;
  /** Allow `git push` (git-receive-pack). Default false. */
  receivePack?: boolean;
  /** The git program. Default `git` on PATH. */
  git?: string;
  /** Called once per request with a one-line summary (method, path, status). */
  log?: (line: string) => void;
}

/** The most a CGI header block may take before it is a bad response. */
const MAX_HEADER_BYTES = 64 * 1024;

/** The service paths of the smart and dumb protocols, after /<name>.git. */
const SERVICE_PATH =
  /^\/(?:info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/(?:info\/[^/]+|[0-9a-f]{2}\/[0-9a-f]{38,62}|pack\/pack-[0-9a-f]{40,64}\.(?:pack|idx)))$/;

/** Where the handler finds the repository, resolved once. */
interface Served {
  options: GitHttpOptions;
  git: string;
  /** `/<name>.git`. */
  prefix: string;
  /** GIT_PROJECT_ROOT: the git directory's parent (http-backend finds the repository at $GIT_PROJECT_ROOT/<path>). */
  projectRoot: string;
  /** The path under it: `/<base name of the git directory>`. */
  repoPath: string;
  log: (line: string) => void;
}

/** Answer a request with a plain-text status (and log it). */
type Done = (status: number, text: string) => void;

/**
 * A plain `(req, res)` handler (koa-style: tests drive it on any server).
 * `/healthz` answers 200 `ok`, for readiness probes.
 */
export function createGitHttpHandler(options: GitHttpOptions) {
  const s: Served = {
    options,
    git: options.git ?? 'git',
    prefix: `/${options.name}.git`,
    projectRoot: dirname(options.gitDir),
    repoPath: `/${basename(options.gitDir)}`,
    log: options.log ?? (() => {}),
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const done: Done = (status, text) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
      s.log(`${req.method} ${url.pathname} ${status}`);
    };
    const refused = refusal(s, req.method, url);
    if (refused) {
      done(...refused);
      return;
    }
    runBackend(s, req, res, url, done);
  };
}

/**
 * What the handler answers itself, without the backend: `/healthz`; 404 off
 * the repository or its service paths; 403 for a push unless allowed; 405
 * for a method the protocol does not use. Undefined: the backend answers.
 */
function refusal(s: Served, method: string | undefined, url: URL): [number, string] | undefined {
  if (url.pathname === '/healthz') return [200, 'ok'];
  if (!url.pathname.startsWith(`${s.prefix}/`)) return [404, `not found: only ${s.prefix} is served here`];
  const rest = url.pathname.slice(s.prefix.length);
  if (!SERVICE_PATH.test(rest)) return [404, 'not found'];
  const service = url.searchParams.get('service') ?? rest.slice(1);
  if (!s.options.receivePack && service === 'git-receive-pack') {
    return [403, 'pushes are not allowed to this server (start it with receivePack)'];
  }
  if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') return [405, 'method not allowed'];
  return undefined;
}

/** The CGI environment of git http-backend for this request (https://git-scm.com/docs/git-http-backend). */
function cgiEnv(s: Served, req: IncomingMessage, url: URL): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GIT_PROJECT_ROOT: s.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_CONFIG_NOSYSTEM: '1',
    // http.receivepack: enabled only when asked; upload-pack always.
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: s.options.receivePack ? 'true' : 'false',
    // Argo CD fetches a commit by its SHA; allow any reachable one.
    GIT_CONFIG_KEY_1: 'uploadpack.allowReachableSHA1InWant',
    GIT_CONFIG_VALUE_1: 'true',
    REQUEST_METHOD: req.method,
    PATH_INFO: `${s.repoPath}${url.pathname.slice(s.prefix.length)}`,
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    REMOTE_USER: s.options.receivePack ? 'local' : '',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
  };
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
  // Protocol v2 is negotiated through this header (https://git-scm.com/docs/protocol-v2).
  const protocol = req.headers['git-protocol'];
  if (typeof protocol === 'string') env.GIT_PROTOCOL = protocol;
  return env;
}

/**
 * Run git http-backend for the request: the request body to its stdin, its
 * CGI response (headers, a blank line, the body) to the response, with
 * backpressure. The backend is stopped when the client goes away; a
 * backend that fails before its headers is a 502 with its stderr.
 */
function runBackend(s: Served, req: IncomingMessage, res: ServerResponse, url: URL, done: Done): void {
  const child = spawn(s.git, ['http-backend'], { env: cgiEnv(s, req, url), stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString('utf8');
  });
  // The client went away: stop the backend, never leave it running.
  res.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  child.on('error', (e) => {
    if (!res.headersSent) done(500, `cannot run ${s.git} http-backend: ${e.message}`);
    else res.destroy(e);
  });
  req.pipe(child.stdin);
  child.stdin.on('error', () => {}); // backend exited before reading the whole body

  let head = Buffer.alloc(0);
  let headerDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headerDone) {
      if (!res.write(chunk)) {
        child.stdout.pause();
        res.once('drain', () => child.stdout.resume());
      }
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = headerEnd(head);
    if (end === undefined) {
      if (head.length > MAX_HEADER_BYTES) {
        child.kill('SIGTERM');
        done(502, 'git http-backend sent a header block that is too long');
      }
      return;
    }
    headerDone = true;
    const { status, headers } = parseCgiHeaders(head.subarray(0, end.at).toString('latin1'));
    res.writeHead(status, headers);
    s.log(`${req.method} ${url.pathname}${url.search} ${status}`);
    const body = head.subarray(end.at + end.length);
    if (body.length > 0) res.write(body);
  });
  child.on('close', (code) => {
    if (!headerDone) {
      if (!res.headersSent) done(502, `git http-backend exited ${code}: ${stderr.trim()}`);
      return;
    }
    res.end();
  });
}

function headerEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return undefined;
}

/** CGI response headers (RFC 3875 §6.3): `Status: 404 Not Found` sets the status; the rest pass through. */
export function parseCgiHeaders(block: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (key.toLowerCase() === 'status') {
      const n = Number.parseInt(value, 10);
      if (n >= 100 && n <= 599) status = n;
    } else {
      headers[key] = value;
    }
  }
  return { status, headers };
}
