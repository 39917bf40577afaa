/**
 * Start-up and shutdown of the serving process, kept apart from main.ts so
 * tests and the bench can boot a server in-process:
 * backend → fetch + digest check → load → warm up → app (not yet ready);
 * listen → ready; SIGTERM → not ready → stop accepting → finish in-flight → exit.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { type BackendChoice, SERVING_ORDER, selectBackend } from '../lib/index.ts';
import { createApp, Lifecycle, type ServingApp } from './app.ts';
import { fetchVerifiedArtifact } from './artifact.ts';
import type { ServingConfig } from './config.ts';
import type { Logger } from './logger.ts';
import { loadModel, type ServedModel } from './model.ts';

export interface Booted {
  app: ServingApp;
  model: ServedModel;
  backend: BackendChoice;
}

/**
 * Everything before listening: choose the backend, fetch and verify every
 * file, load and warm up the model, and build the app with readiness false.
 * A digest mismatch throws here, so the process never becomes ready.
 */
export async function boot(
  config: ServingConfig,
  deps: { logger: Logger; registry: Registry; fetch?: typeof fetch },
): Promise<Booted> {
  const { logger } = deps;
  const backend = await selectBackend(SERVING_ORDER, config.backend);
  logger.info('tfjs backend selected', {
    backend: backend.name,
    package: backend.package,
    skipped: backend.skipped,
  });
  const started = performance.now();
  const artifact = await fetchVerifiedArtifact(config.model, {
    ...(config.mlflow ? { mlflow: config.mlflow } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  logger.info('artifact verified', {
    model: config.model.name,
    version: config.model.version,
    uri: config.model.uri,
    sha256: config.model.sha256,
    files: artifact.files.size,
  });
  const model = await loadModel(artifact, config.model, {
    runner: config.inferenceThread,
    backend: backend.id,
    log: (level, msg, fields) => logger[level](msg, fields),
  });
  await model.warmup(1);
  await model.warmup(config.batching.maxBatchSize);
  logger.info('model loaded and warmed up', {
    model: model.name,
    version: model.version,
    inference_thread: model.runner,
    seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
  });
  const lifecycle = new Lifecycle(false);
  const app = createApp({ model, registry: deps.registry, logger, config, backend: backend.name, lifecycle });
  return { app, model, backend };
}

/** Listen on config.host:config.port; resolves with the server once it accepts. */
export async function listen(app: ServingApp, config: Pick<ServingConfig, 'host' | 'port'>): Promise<Server> {
  const server = createServer(app.callback());
  // Keep-alive longer than typical load balancers' idle timeouts.
  server.keepAliveTimeout = 65_000;
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
  await booted.model.dispose();
  opts.logger.info('shutdown complete');
}
