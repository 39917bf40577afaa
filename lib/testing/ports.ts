/**
 * Test and benchmark helper: a free TCP port on loopback, for a process the
 * caller starts next (Prometheus, Alertmanager, MLflow, etcd, the server).
 * The one copy; do not write another.
 */
import { createServer } from 'node:net';

/**
 * A TCP port that was free on 127.0.0.1 a moment ago: bound to port 0 and
 * released again before it resolves. Another process may take it in between,
 * so the caller binds it soon.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}
