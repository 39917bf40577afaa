/**
 * The end of a stack process that serves HTTP(S) (scripts/git-server.ts,
 * scripts/metrics-api.ts): its URL, and a close that also drops idle
 * keep-alive connections, run on SIGTERM and SIGINT so that `cluster down`
 * ends the process at once.
 */
import type { Server } from 'node:http';
import { ProjectError } from '../../platform/errors.ts';

export interface Served {
  /** Where it listens: `<scheme>://127.0.0.1:<port><path>`. */
  url: string;
  close: () => Promise<void>;
}

/** `server` (listening) as a Served, closed on SIGTERM/SIGINT. */
export function servedUntilSignal(
  server: Server,
  scheme: 'http' | 'https',
  fallbackPort: number,
  path = '',
): Served {
  const addr = server.address();
  const url = `${scheme}://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : fallbackPort}${path}`;
  const close = () =>
    new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void close());
  return { url, close };
}

/** Listen on 127.0.0.1:`port` (0: any free port), then as {@link servedUntilSignal}; UNAVAILABLE naming the port when it cannot. */
export async function serveOnLoopback(
  server: Server,
  port: number,
  scheme: 'http' | 'https',
  path = '',
): Promise<Served> {
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        new ProjectError('UNAVAILABLE', `cannot listen on 127.0.0.1:${port}: ${e.code ?? e.message}`, {
          cause: e,
        }),
      ),
    );
    server.listen(port, '127.0.0.1', () => ok());
  });
  return servedUntilSignal(server, scheme, port, path);
}
