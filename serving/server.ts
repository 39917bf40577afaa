/**
 * Start-up and shutdown of the serving process, kept apart from main.ts so
 * tests and the bench can boot a server in-process:
 * backend → fetch + digest check → load → warm up → app (not yet ready);
 * listen → ready; SIGTERM → not ready → stop accepting → finish in-flight → exit.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { fetchVerifiedArtifact, type VerifiedArtifact } from '../model/artifact/read.ts';
import { type BackendChoice, SERVING_ORDER, selectBackend } from '../model/backend.ts';
import { readTrustedRoot } from '../model/signing/trusted-root.ts';
import { verifyModelSignature } from '../model/signing/verify.ts';
import { createApp, type ServingApp } from './app.ts';
import type { ServingConfig } from './config.ts';
import { Lifecycle } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { loadModel, type ServedModel } from './model.ts';
import { rawErrorResponse } from './security.ts';
import { InferenceWorker, type LaunchedThread } from './worker/index.ts';

/** Header fields kept per request; Node drops any beyond (it does not refuse them). */
export const MAX_HEADERS_COUNT = 100;

export interface Booted {
  app: ServingApp;
  model: ServedModel;
  backend: BackendChoice;
  /** Milliseconds of each start-up step (the `ready` log line reports them). */
  phases: BootPhases;
}

/**
 * Milliseconds of boot's steps. With inference in its thread, the first two
 * run at once (each counts from boot's start); the model step follows both.
 */
export interface BootPhases {
  /** Until the tfjs backend was loaded (the native addon and libtensorflow; in the inference thread, its start too). */
  backend: number;
  /** Until the signature was checked and the artifact fetched and its digests checked. */
  artifact: number;
  /** Building the model (the graph compile and its check) and warming it up. */
  model: number;
}

/**
 * Everything before listening: choose the backend, fetch and verify every
 * file, load and warm up the model, and build the app with readiness false.
 * A digest mismatch throws here, so the process never becomes ready. With
 * inference in its thread (the default) the thread loads the tfjs backend
 * (`deps.thread`, or one started here) while this thread fetches the model,
 * and the main thread loads no native backend.
 */
export async function boot(
  config: ServingConfig,
  deps: { logger: Logger; registry: Registry; fetch?: typeof fetch; thread?: LaunchedThread },
): Promise<Booted> {
  const { logger } = deps;
  const t0 = performance.now();
  const thread =
    config.inferenceThread === 'worker'
      ? (deps.thread ?? InferenceWorker.launch(config.backend ? { force: config.backend } : {}))
      : undefined;
  let loading = false;
  try {
    let backendAt = t0;
    const backendReady = (thread ? thread.backend : selectBackend(SERVING_ORDER, config.backend)).then(
      (b) => {
        backendAt = performance.now();
        return b;
      },
    );
    // Awaited below; a thread stopped because the artifact failed is not an unhandled rejection meanwhile.
    backendReady.catch(() => {});
    // In the main thread the backend loads synchronously: it is there before the artifact.
    if (!thread) await backendReady;
    const artifact = await fetchArtifact(config, logger, deps.fetch);
    const t1 = performance.now();
    const backend = await backendReady;
    logger.info('tfjs backend selected', {
      backend: backend.name,
      package: backend.package,
      skipped: backend.skipped,
      ...(thread ? { inference_thread: 'worker' } : {}),
    });
    const t2 = performance.now();
    loading = true;
    const model = await loadModel(artifact, config.model, {
      runner: config.inferenceThread,
      ...(thread ? { thread } : { backend: backend.id }),
      execution: config.execution,
      log: (level, msg, fields) => logger[level](msg, fields),
    });
    // The worker thread warms up for one image itself (after a restart too).
    if (model.runner === 'main') await model.warmup(1);
    await model.warmup(config.batching.maxBatchSize);
    const t3 = performance.now();
    logger.info('model loaded and warmed up', {
      model: model.name,
      version: model.version,
      inference_thread: model.runner,
      execution: model.execution.kind,
      ...(model.execution.note ? { execution_note: model.execution.note } : {}),
      seconds: Number(((t3 - t2) / 1000).toFixed(3)),
    });
    const lifecycle = new Lifecycle(false);
    const app = createApp({
      model,
      registry: deps.registry,
      logger,
      config,
      backend: backend.name,
      lifecycle,
    });
    const ms = (a: number, b: number) => Math.round(b - a);
    return {
      app,
      model,
      backend,
      phases: { backend: ms(t0, backendAt), artifact: ms(t0, t1), model: ms(t2, t3) },
    };
  } catch (e) {
    // loadModel stops a thread it could not load; before it, the thread is still ours.
    if (thread && !loading) await thread.cancel();
    throw e;
  }
}

/** Check the pin's signature (with a signing policy), then fetch the artifact and check every file's digest. */
async function fetchArtifact(
  config: ServingConfig,
  logger: Logger,
  fetchImpl: typeof fetch | undefined,
): Promise<VerifiedArtifact> {
  await checkSignature(config, logger);
  const artifact = await fetchVerifiedArtifact(config.model, {
    ...(config.mlflow ? { mlflow: config.mlflow } : {}),
    ...(config.objectStore ? { objectStore: config.objectStore } : {}),
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  logger.info('artifact verified', {
    model: config.model.name,
    version: config.model.version,
    uri: config.model.uri,
    sha256: config.model.sha256,
    files: artifact.files.size,
  });
  return artifact;
}

/**
 * Nothing unsigned runs (docs/signing.md): with a signing policy, the pin's
 * signature must sign this version's root digest by a signer the policy
 * trusts, before a file of the model is fetched. A refusal throws: the
 * process never becomes ready, and the log says why.
 */
async function checkSignature(config: ServingConfig, logger: Logger): Promise<void> {
  const m = config.model;
  if (!config.signing) {
    logger.warn('model signature not checked: SERVING_SIGNING_POLICY is not set', {
      model: m.name,
      version: m.version,
    });
    return;
  }
  const trustedRootFile = config.signing.trustedRootFile;
  const who = await verifyModelSignature(
    m.signature,
    { model: m.name, version: m.version, rootDigest: m.sha256 },
    config.signing.policy,
    trustedRootFile ? { trustedRoot: () => readTrustedRoot(trustedRootFile) } : {},
  );
  logger.info('model signature verified', {
    model: m.name,
    version: m.version,
    signer: who.signer,
    identity: who.identity,
    ...(who.commit ? { commit: who.commit } : {}),
  });
}

/**
 * Answer a request that Node's HTTP parser refused before Koa saw it, with a
 * JSON error instead of Node's bare text (or nothing): a malformed request,
 * headers over the size limit, headers or body that did not arrive in time.
 * Nothing is written when a response has started or the client is gone.
 *
 * @see https://nodejs.org/api/http.html#event-clienterror
 */
function answerClientError(
  err: Error & { code?: string },
  socket: Socket,
  http: ServingConfig['http'],
): void {
  const response = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
    socket.destroy();
    return;
  }
  // Bytes that do not parse after a complete request (data past its
  // Content-Length): that request is being answered; let it, then close.
  // (An error inside a request's own body is answered below, at once.)
  if (response?.req.complete && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
    response.once('finish', () => socket.destroy());
    setTimeout(() => socket.destroy(), http.requestTimeoutMs).unref();
    return;
  }
  let answer: string;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    answer = rawErrorResponse(
      431,
      'TOO_LARGE',
      `the request headers are over the limit of ${http.maxHeaderBytes} bytes`,
    );
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    answer = rawErrorResponse(
      408,
      'TIMEOUT',
      `the request did not arrive in time (headers within ${http.headersTimeoutMs} ms, the whole request within ${http.requestTimeoutMs} ms)`,
    );
  } else {
    answer = rawErrorResponse(
      400,
      'INVALID',
      `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`,
    );
  }
  socket.end(answer);
  // A client that does not read its answer does not keep the socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/**
 * Cap open connections at `max`: one more is answered 503 with a JSON error
 * and closed, before any request on it is parsed (Node's own
 * `server.maxConnections` would close it without a word). The gate wraps the
 * listener http.Server installs for 'connection'.
 */
function capConnections(server: Server, max: number): void {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  let open = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= max) {
      socket.on('error', () => undefined);
      socket.end(
        rawErrorResponse(503, 'OVERLOADED', `the server has ${max} open connections, its limit`, {
          'Retry-After': '1',
        }),
      );
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    open++;
    socket.once('close', () => {
      open--;
    });
    for (const l of listeners) l.call(server, socket);
  });
}

/**
 * Listen on config.host:config.port with the request limits of
 * `config.http`; resolves with the server once it accepts.
 *
 * - `headersTimeout` (slow-loris headers) and `requestTimeout` (a body that
 *   trickles in) answer 408; Node checks both every `connectionsCheckingInterval`,
 *   30 s by default, so it is set to at most 1 s here.
 * - `keepAliveTimeout` closes idle keep-alive connections (keep it above the
 *   load balancer's idle timeout).
 * - `maxHeaderSize` answers 431; `maxHeadersCount` keeps at most 100 fields.
 * - At most `maxConnections` open connections (see {@link capConnections}).
 *
 * @see https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener
 */
export async function listen(
  app: ServingApp,
  config: Pick<ServingConfig, 'host' | 'port' | 'http'>,
): Promise<Server> {
  const { http } = config;
  const server = createServer(
    {
      requestTimeout: http.requestTimeoutMs,
      headersTimeout: http.headersTimeoutMs,
      keepAliveTimeout: http.keepAliveTimeoutMs,
      maxHeaderSize: http.maxHeaderBytes,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(http.headersTimeoutMs / 4))),
    },
    app.callback(),
  );
  server.keepAliveTimeout = http.keepAliveTimeoutMs;
  server.maxHeadersCount = MAX_HEADERS_COUNT;
  server.on('clientError', (err: Error, socket: Socket) => answerClientError(err, socket, http));
  capConnections(server, http.maxConnections);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** The URL a server listens on (loopback-friendly). */
export function urlOf(server: Server): string {
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
  return `http://${host}:${a.port}`;
}

/**
 * Graceful shutdown: readiness false first, stop accepting, let in-flight
 * requests finish (idle keep-alive connections are closed as they go idle),
 * then drain the batcher and free the model. After `timeoutMs`, remaining
 * connections are closed.
 */
export async function shutdown(
  server: Server,
  booted: Pick<Booted, 'app' | 'model'>,
  opts: { timeoutMs: number; logger: Logger },
): Promise<void> {
  const { lifecycle, batcher } = booted.app.serving;
  lifecycle.beginShutdown();
  opts.logger.info('shutting down: readiness false, no new connections, finishing in-flight requests');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  const timer = setTimeout(() => {
    opts.logger.warn('shutdown timeout: closing remaining connections', { timeoutMs: opts.timeoutMs });
    server.closeAllConnections();
  }, opts.timeoutMs);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
  await batcher.close();
  // Mirrored requests still running (shadow traffic): a bounded wait, so their pairs are kept.
  await booted.app.serving.shadow?.drain(Math.min(5000, opts.timeoutMs));
  // Captured answers still queued: written within a bounded time, else dropped and counted.
  await booted.app.serving.capture?.close(Math.min(5000, opts.timeoutMs));
  booted.app.serving.objectStore?.close();
  booted.app.serving.stopLoopMonitor();
  await booted.model.dispose();
  opts.logger.info('shutdown complete');
}
