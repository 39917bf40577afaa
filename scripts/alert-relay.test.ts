import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { exitCodeOf } from '../platform/errors.ts';
import { requestTls, selfSignedCert } from '../testing/tls.ts';
import { main, relayTokenFromEnv } from './alert-relay.ts';

let dir: string;
const TOKEN = 'a-shared-secret-of-thirty-two-ch';
const repo = { GITHUB_REPOSITORY: 'acme/models', GITHUB_TOKEN: 'ghs_x' };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'relay-script-'));
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

it('listens on loopback by default, with the secret from the mounted file; unauthenticated POSTs get 401', async () => {
  const stop = new AbortController();
  let address: { host: string; port: number } | undefined;
  const running = main(['--port', '0'], {
    env: { ...repo, ALERT_RELAY_TOKEN_FILE: join(dir, 'token') },
    signal: stop.signal,
    onListening: (a) => {
      address = a;
    },
  });
  for (let i = 0; i < 100 && !address; i++) await new Promise((r) => setTimeout(r, 20));
  expect(address?.host).toBe('127.0.0.1');
  const res = await fetch(`http://127.0.0.1:${address!.port}/alerts`, { method: 'POST', body: '{}' });
  expect(res.status).toBe(401);
  const ok = await fetch(`http://127.0.0.1:${address!.port}/alerts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: '{}',
  });
  expect(ok.status).toBe(400); // authenticated: now the body is checked
  stop.abort();
  expect(await running).toBe(0);
});

it('will not start without a shared secret, or with one too short (exit 2)', async () => {
  for (const env of [
    repo,
    { ...repo, ALERT_RELAY_TOKEN: 'short' },
    { ...repo, ALERT_RELAY_TOKEN_FILE: join(dir, 'none') },
  ]) {
    const err = await main(['--port', '0'], { env }).catch((e: unknown) => e);
    expect(exitCodeOf(err)).toBe(2);
  }
  expect(() => relayTokenFromEnv(repo)).toThrow('the alert relay needs the shared secret Alertmanager sends');
  expect(relayTokenFromEnv({ ALERT_RELAY_TOKEN: ` ${TOKEN} ` })).toBe(TOKEN);
});

it('serves HTTPS with the mounted certificate and key, so the secret never crosses in clear (issue 23, finding 9)', async () => {
  // A self-signed certificate for the Service's name, as manifests/alert-relay's kustomization makes one.
  const { certFile: cert, keyFile: key, cert: ca } = selfSignedCert(dir, ['alert-relay']);
  const stop = new AbortController();
  let address: { host: string; port: number } | undefined;
  const running = main(['--port', '0'], {
    env: {
      ...repo,
      ALERT_RELAY_TOKEN_FILE: join(dir, 'token'),
      ALERT_RELAY_TLS_CERT_FILE: cert,
      ALERT_RELAY_TLS_KEY_FILE: key,
    },
    signal: stop.signal,
    onListening: (a) => {
      address = a;
    },
  });
  for (let i = 0; i < 100 && !address; i++) await new Promise((r) => setTimeout(r, 20));
  const port = address!.port;
  const postTls = (trust: Buffer, headers: Record<string, string> = {}) =>
    requestTls(`https://127.0.0.1:${port}/alerts`, trust, {
      method: 'POST',
      headers,
      body: '{}',
      servername: 'alert-relay',
    });
  expect((await postTls(ca)).status).toBe(401);
  const ok = await postTls(ca, { authorization: `Bearer ${TOKEN}` });
  expect(ok.status).toBe(400); // authenticated over TLS: now the body is checked
  // Plain HTTP to the same port gets no answer from the relay.
  await expect(fetch(`http://127.0.0.1:${port}/alerts`, { method: 'POST', body: '{}' })).rejects.toThrow();
  // A client that does not trust the certificate stops before sending the secret.
  await expect(postTls(Buffer.from(''), { authorization: `Bearer ${TOKEN}` })).rejects.toThrow(
    /self-signed certificate/,
  );
  stop.abort();
  expect(await running).toBe(0);
});

it('TLS needs both files, readable and PEM (exit 2 naming the variable)', async () => {
  await writeFile(join(dir, 'not-pem'), 'not a certificate\n');
  for (const [env, message] of [
    [
      { ALERT_RELAY_TLS_CERT_FILE: join(dir, 'token') },
      'ALERT_RELAY_TLS_CERT_FILE and ALERT_RELAY_TLS_KEY_FILE go together',
    ],
    [
      { ALERT_RELAY_TLS_CERT_FILE: join(dir, 'none'), ALERT_RELAY_TLS_KEY_FILE: join(dir, 'none') },
      'ALERT_RELAY_TLS_CERT_FILE',
    ],
    [
      { ALERT_RELAY_TLS_CERT_FILE: join(dir, 'not-pem'), ALERT_RELAY_TLS_KEY_FILE: join(dir, 'not-pem') },
      'not a PEM certificate and its key',
    ],
  ] as const) {
    const err = await main(['--port', '0'], {
      env: { ...repo, ALERT_RELAY_TOKEN_FILE: join(dir, 'token'), ...env },
    }).catch((e: unknown) => e);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toContain(message);
  }
});
