/**
 * TLS for tests: a self-signed certificate made by the openssl CLI (as the
 * docs tell a user to make one), and one HTTPS request that trusts only a
 * given certificate (Node's fetch takes no CA of its own).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface SelfSigned {
  certFile: string;
  keyFile: string;
  /** The certificate (PEM): what a client trusts. */
  cert: Buffer;
  key: Buffer;
}

/** A P-256 certificate for `names` (DNS names or IP addresses), valid a day, written to `dir`/`stem`.{crt,key}. */
export function selfSignedCert(dir: string, names: readonly string[], stem = 'tls'): SelfSigned {
  const certFile = join(dir, `${stem}.crt`);
  const keyFile = join(dir, `${stem}.key`);
  const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
      .concat(['-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`])
      .concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** One HTTPS request to `url` trusting only `ca` (rejects when the server's certificate does not verify). */
export function requestTls(
  url: string,
  ca: Buffer,
  init: { method?: string; headers?: Record<string, string>; body?: string; servername?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        ca,
        headers: init.headers,
        ...(init.servername ? { servername: init.servername } : {}),
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}
