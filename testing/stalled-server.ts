/**
 * Test helper: a real loopback HTTP server that takes every request and
 * never answers, standing for a store or service that is slow forever.
 * `close()` drops the connections it holds, then stops listening.
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';

export interface StalledServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

export async function stalledServer(): Promise<StalledServer> {
  const sockets = new Set<Socket>();
  const server = createServer(() => undefined);
  server.on('connection', (s) => {
    sockets.add(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
