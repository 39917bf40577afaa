/**
 * The end of a stack process that serves HTTP(S) (scripts/git-server.ts,
 * scripts/metrics-api.ts): its URL, and a close that also drops idle
 * keep-alive connections, run on SIGTERM and SIGINT so that `cluster down`
 * ends the process at once.
 */
import type { Server } from 'node:http';

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
