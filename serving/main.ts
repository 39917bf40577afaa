/**
 * The serving process: the only place that reads process.env and calls
 * listen. The image runs this file (serving/Dockerfile CMD) with the
 * SERVING_MODEL_* pin; `npm run serve` runs scripts/serve.ts, which calls
 * {@link start} with the pin it read from the lock. Configuration: SERVING_*
 * variables (docs/serving.md). Exit 0 after a graceful SIGTERM/SIGINT, 1
 * when start-up fails (a digest mismatch, a missing file), 2 for bad
 * configuration.
 */
import { Registry } from 'prom-client';
import { exitCodeOf, isMain, isProjectError } from '../platform/index.ts';
import { type LoadConfigOptions, loadConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { boot, listen, shutdown, urlOf } from './server.ts';

export async function main(
  env: Record<string, string | undefined>,
  logger: Logger = createLogger(),
  opts: LoadConfigOptions = {},
): Promise<void> {
  const config = await loadConfig(env, opts);
  const registry = new Registry();
  const booted = await boot(config, { logger, registry });
  const server = await listen(booted.app, config);
  booted.app.serving.lifecycle.setReady(true);
  logger.info('ready', { url: urlOf(server), model: booted.model.name, version: booted.model.version });
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
export function start(opts: LoadConfigOptions = {}): void {
  const logger = createLogger();
  main(process.env, logger, opts).catch((e: unknown) => {
    logger.error('start-up failed', {
      error: isProjectError(e) ? e.message : String((e as Error)?.stack ?? e),
      code: isProjectError(e) ? e.code : undefined,
    });
    process.exitCode = exitCodeOf(e);
  });
}

if (isMain(import.meta.url)) start();
