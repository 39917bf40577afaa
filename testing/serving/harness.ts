/**
 * Test harness: the fixture artifact in a temp dir, booted in-process like
 * main.ts does (real backend, real digest check, real app), on a loopback
 * port with a fresh prom-client Registry.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { pinFromLock } from '../../scripts/serve.ts';
import type { ServingApp } from '../../serving/app.ts';
import { loadConfig, type ServingConfig } from '../../serving/config.ts';
import type { Logger } from '../../serving/logger.ts';
import type { ServedModel } from '../../serving/model.ts';
import { boot, listen, urlOf } from '../../serving/server.ts';
import { type FixtureArtifact, writeFixtureArtifact } from './fixture.ts';
import { memoryLogger } from './logger.ts';

export interface TestServer {
  url: string;
  app: ServingApp;
  model: ServedModel;
  registry: Registry;
  config: ServingConfig;
  logger: Logger & { lines: Record<string, unknown>[] };
  server: Server;
  close(): Promise<void>;
}

/** A temp dir holding the fixture artifact; `cleanup()` removes it. */
export async function tempFixture(): Promise<FixtureArtifact & { root: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'serving-test-'));
  const fixture = await writeFixtureArtifact(root);
  return { ...fixture, root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/**
 * Boot the fixture model in-process on 127.0.0.1 with `env` overriding its
 * variables, configured as `npm run serve` configures it (SERVING_LOCK_FILE
 * reads the pin from a lock: scripts/serve.ts).
 */
export async function startTestServer(
  fixture: FixtureArtifact,
  env: Record<string, string> = {},
): Promise<TestServer> {
  const config = await loadConfig(
    {
      SERVING_BACKEND: 'cpu',
      ...fixture.env,
      SERVING_HOST: '127.0.0.1',
      SERVING_PORT: '0',
      ...env,
    },
    { pinFromLock },
  );
  const registry = new Registry();
  const logger = memoryLogger();
  const { app, model } = await boot(config, { logger, registry });
  const server = await listen(app, config);
  app.serving.lifecycle.setReady(true);
  return {
    url: urlOf(server),
    app,
    model,
    registry,
    config,
    logger,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await app.serving.batcher.close();
      await app.serving.capture?.close(5000);
      app.serving.objectStore?.close();
      app.serving.stopLoopMonitor();
      await model.dispose();
    },
  };
}
