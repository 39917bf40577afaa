/**
 * Readiness probes of the local cluster's components: an HTTP(S) GET that
 * must answer 200 (the components' /healthz, /readyz), and Redis's PING.
 * Each answers true/false and never throws, so a wait loop can poll it.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { ProjectError } from '../../platform/errors.ts';
import { isRunning, tailFile } from './process.ts';

export interface HttpProbe {
  kind: 'http';
  url: string;
  /** Bearer token (kube-apiserver). */
  token?: string;
  /** PEM CA to verify the server with; without it an https server's self-signed cert is accepted (loopback health only). */
  ca?: string;
}
export interface RedisProbe {
  kind: 'redis';
  port: number;
  /** Sent with AUTH before PING when set (requirepass). */
  password?: string;
}
export type Probe = HttpProbe | RedisProbe;

export function probe(p: Probe, timeoutMs = 3000): Promise<boolean> {
  return p.kind === 'http' ? httpOk(p, timeoutMs) : redisPing(p.port, p.password, timeoutMs);
}

function httpOk(p: HttpProbe, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const https = p.url.startsWith('https:');
    const headers = p.token ? { authorization: `Bearer ${p.token}` } : undefined;
    const onResponse = (res: import('node:http').IncomingMessage) => {
      res.resume();
      resolve(res.statusCode === 200);
    };
    const req = https
      ? httpsRequest(
          p.url,
          { headers, ca: p.ca, rejectUnauthorized: p.ca !== undefined, timeout: timeoutMs },
          onResponse,
        )
      : httpRequest(p.url, { headers, timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * [AUTH →  +OK,] PING → +PONG, as inline commands
 * (https://redis.io/docs/latest/develop/reference/protocol-spec/#inline-commands).
 */
function redisPing(port: number, password: string | undefined, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write(password ? `AUTH ${password}\r\nPING\r\n` : 'PING\r\n'));
    const replies = password ? 2 : 1;
    socket.on('data', (c) => {
      data += c.toString('latin1');
      const lines = data.split('\r\n');
      if (lines.length > replies) finish(lines[replies - 1] === '+PONG' && (!password || lines[0] === '+OK'));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WaitTarget {
  /** Component name for the message. */
  name: string;
  /** Where it listens, for the message. */
  address: string;
  pid: number;
  command: string;
  logFile: string;
}

/**
 * Poll `ready` until it holds. Fails early when the process exits, and after
 * `timeoutMs` otherwise; either error names the component, its address and
 * the tail of its log.
 */
export async function waitReady(
  target: WaitTarget,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  what = 'ready',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    const alive = await isRunning(target.pid, target.command);
    if (!alive || Date.now() > deadline) {
      const why = alive ? `not ${what} after ${Math.round(timeoutMs / 1000)}s` : `exited (pid ${target.pid})`;
      const tail = await tailFile(target.logFile, 25);
      throw new ProjectError(
        'UNAVAILABLE',
        `${target.name} on ${target.address}: ${why}; last lines of ${target.logFile}:\n${tail || '(empty)'}`,
        { subject: target.name },
      );
    }
    await sleep(300);
  }
}

/** Poll a condition without a process of ours behind it (a node turning Ready, a CRD established). */
export async function waitFor(
  what: string,
  check: () => Promise<string | undefined>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined = 'not checked yet';
  for (;;) {
    try {
      last = await check();
    } catch (e) {
      last = (e as Error).message;
    }
    if (last === undefined) return;
    if (Date.now() > deadline)
      throw new ProjectError(
        'UNAVAILABLE',
        `${what}: not done after ${Math.round(timeoutMs / 1000)}s: ${last}`,
        {
          subject: what,
        },
      );
    await sleep(500);
  }
}
