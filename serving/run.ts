/**
 * The serving process: the only place that reads process.env and calls
 * listen. The image runs serving/main.ts (serving/Dockerfile CMD), which
 * starts the inference thread and then calls {@link start} here, with the
 * SERVING_MODEL_* pin; `npm run serve` runs scripts/serve.ts, which calls
 * {@link start} with the pin it read from the lock. Configuration: SERVING_*
 * variables (docs/serving.md). Exit 0 after a graceful SIGTERM/SIGINT, 1
 * when start-up fails (a digest mismatch, a missing file), 2 for bad
 * configuration.
 */
import { Registry } from 'prom-client';
import { exitCodeOf, isProjectError } from '../platform/index.ts';
import { type LoadConfigOptions, loadConfig, type ServingConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { boot, listen, shutdown, urlOf } from './server.ts';
import type { LaunchedThread } from './worker/index.ts';

export async function main(
  env: Record<string, string | undefined>,
  logger: Logger = createLogger(),
  opts: LoadConfigOptions = {},
  /** The inference thread serving/main.ts started (boot starts one where it is missing and needed). */
  thread?: LaunchedThread,
): Promise<void> {
  // Milliseconds since the process started (performance's time origin): the imports of this file are done.
  const imported = performance.now();
  let config: ServingConfig;
  try {
    config = await loadConfig(env, opts);
  } catch (e) {
    await thread?.cancel();
    throw e;
  }
  const configured = performance.now();
  const registry = new Registry();
  const booted = await boot(config, { logger, registry, ...(thread ? { thread } : {}) });
  const listening = performance.now();
  const server = await listen(booted.app, config);
  booted.app.serving.lifecycle.setReady(true);
  const ready = performance.now();
  logger.info('ready', {
    url: urlOf(server),
    model: booted.model.name,
    version: booted.model.version,
    // Where start-up went, in ms from process start (bench/serving/startup.ts reads it).
    startup_ms: {
      total: Math.round(ready),
      imports: Math.round(imported),
      config: Math.round(configured - imported),
      ...booted.phases,
      listen: Math.round(ready - listening),
    },
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('signal received', { signal });
    shutdown(server, booted, { timeoutMs: config.shutdownTimeoutMs, logger })
      .then(() => {
        process.exitCode = 0;
      })
      .catch((e: unknown) => {
        logger.error('shutdown failed', { error: String(e) });
        process.exitCode = 1;
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * Start the server from `process.env` (and `opts`): a start-up failure is
 * logged and sets the exit code. What an entry point calls.
 */
export function start(opts: LoadConfigOptions = {}, thread?: LaunchedThread): void {
  const logger = createLogger();
  main(process.env, logger, opts, thread).catch((e: unknown) => {
    logger.error('start-up failed', {
      error: isProjectError(e) ? e.message : String((e as Error)?.stack ?? e),
      code: isProjectError(e) ? e.code : undefined,
    });
    process.exitCode = exitCodeOf(e);
  });
}
