/**
 * Free TCP ports on 127.0.0.1 for processes about to be started (the local
 * cluster's components, test servers). Each port is bound to port 0 and
 * released again before it is returned, so another process may take it in
 * between: the caller binds it soon.
 */
import { createServer, type Server } from 'node:net';

/** A free port on 127.0.0.1 per name, all held open together so that none repeats. */
export async function freePorts<K extends string>(names: K[]): Promise<Record<K, number>> {
  const servers = await Promise.all(
    names.map(
      () =>
        new Promise<Server>((ok, fail) => {
          const s = createServer();
          s.unref();
          s.once('error', fail);
          s.listen(0, '127.0.0.1', () => ok(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return Object.fromEntries(names.map((name, i) => [name, ports[i]])) as Record<K, number>;
}

/** One free port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return (await freePorts(['port'])).port;
}
