/**
 * The drift-alert relay server: Alertmanager's webhook receiver
 * (monitoring/alertmanager/alertmanager.yml) → GitHub workflow_dispatch of
 * drift.yml on main → `npm run retrain`.
 *
 *   GITHUB_REPOSITORY=owner/repo GITHUB_TOKEN=... ALERT_RELAY_TOKEN_FILE=/secrets/token \
 *   npx tsx scripts/alert-relay.ts [--port 8080] [--host 127.0.0.1]
 *
 * The shared secret Alertmanager sends (Authorization: Bearer) comes from
 * ALERT_RELAY_TOKEN_FILE (a mounted Secret) or ALERT_RELAY_TOKEN; the relay
 * does not start without one. It listens on loopback unless told otherwise
 * (manifests/alert-relay passes --host 0.0.0.0 behind a NetworkPolicy), over
 * HTTPS when ALERT_RELAY_TLS_CERT_FILE and ALERT_RELAY_TLS_KEY_FILE are set.
 * The GitHub token needs "Actions: write" on the repository only (a
 * fine-grained PAT or a GitHub App token). Exit codes: 0, 1 failure, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createAlertRelay } from '../monitoring/alert-relay.ts';
import { readRepoContext } from '../platform/github/index.ts';
import { isMain, ProjectError, parseCommand, parsePortFlag, runMain } from '../platform/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npx tsx scripts/alert-relay.ts',
  summary: `The drift-alert relay: Alertmanager's webhook receiver
(monitoring/alertmanager/alertmanager.yml). A firing drift alert becomes a
GitHub workflow_dispatch of drift.yml on main (which runs
\`npm run retrain\`), once for the same firing alerts in 24 hours. Serves
until SIGTERM or SIGINT.`,
  options: {
    port: { type: 'string', value: '<n>', help: 'port to listen on (default: ALERT_RELAY_PORT, else 8080)' },
    host: {
      type: 'string',
      value: '<address>',
      help: 'address to listen on: loopback unless told otherwise\n(manifests/alert-relay passes 0.0.0.0, behind a NetworkPolicy)',
      default: '127.0.0.1',
    },
  },
  notes: `environment:
  GITHUB_REPOSITORY       owner/repo, where the dispatch goes
  GITHUB_TOKEN            a token with "Actions: write" on it and nothing else
                          (a fine-grained PAT or a GitHub App token)
  GITHUB_API_URL          the GitHub API (default: https://api.github.com)
  ALERT_RELAY_TOKEN_FILE  a file (a mounted Secret) holding the shared secret
                          Alertmanager sends (Authorization: Bearer); or
  ALERT_RELAY_TOKEN       the secret itself. Without one the relay does not start.
  ALERT_RELAY_TLS_CERT_FILE, ALERT_RELAY_TLS_KEY_FILE
                          PEM certificate (chain) and key: serve HTTPS, so the
                          secret never crosses the network in clear (both or neither)`,
  exit: { 0: 'stopped (SIGTERM or SIGINT)' },
} as const;

/** The shared secret, from the file a Secret is mounted at, or the variable; read once, here. */
export function relayTokenFromEnv(env: Record<string, string | undefined>): string {
  const file = env.ALERT_RELAY_TOKEN_FILE;
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new ProjectError(
        'USAGE',
        `ALERT_RELAY_TOKEN_FILE ${file}: cannot read it (${(e as NodeJS.ErrnoException).code})`,
        { subject: 'ALERT_RELAY_TOKEN_FILE', cause: e },
      );
    }
  }
  const token = env.ALERT_RELAY_TOKEN?.trim();
  if (!token) {
    throw new ProjectError(
      'USAGE',
      'the alert relay needs the shared secret Alertmanager sends: set ALERT_RELAY_TOKEN_FILE (or ALERT_RELAY_TOKEN)',
      {
        subject: 'ALERT_RELAY_TOKEN_FILE',
        hint: 'generate one with `openssl rand -hex 32`; docs/ci-training.md "Drift alert → retrain"',
      },
    );
  }
  return token;
}

/** The TLS certificate and key to serve with, or undefined for plain HTTP; both or neither. */
export function relayTlsFromEnv(
  env: Record<string, string | undefined>,
): { cert: Buffer; key: Buffer } | undefined {
  const certFile = env.ALERT_RELAY_TLS_CERT_FILE;
  const keyFile = env.ALERT_RELAY_TLS_KEY_FILE;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    throw new ProjectError(
      'USAGE',
      'ALERT_RELAY_TLS_CERT_FILE and ALERT_RELAY_TLS_KEY_FILE go together: set both, or neither for plain HTTP',
      {
        subject: certFile ? 'ALERT_RELAY_TLS_KEY_FILE' : 'ALERT_RELAY_TLS_CERT_FILE',
      },
    );
  }
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ProjectError(
        'USAGE',
        `${name} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code})`,
        {
          subject: name,
          cause: e,
        },
      );
    }
  };
  return {
    cert: read('ALERT_RELAY_TLS_CERT_FILE', certFile),
    key: read('ALERT_RELAY_TLS_KEY_FILE', keyFile),
  };
}

export interface RelayDeps {
  env?: Record<string, string | undefined>;
  /** Called once listening (tests learn the port). */
  onListening?: (address: { host: string; port: number }) => void;
  /** Stops the server (tests); SIGTERM and SIGINT do at the edge. */
  signal?: AbortSignal;
}

export async function main(argv: string[], deps: RelayDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const cli = parseCommand(argv, COMMAND);
  if (!cli) return 0;
  const { values } = cli;
  const portText = values.port ?? env.ALERT_RELAY_PORT ?? '8080';
  const port = parsePortFlag(portText);
  const token = relayTokenFromEnv(env);
  const tls = relayTlsFromEnv(env);
  const ctx = readRepoContext(env);
  const handler = createAlertRelay({
    api: { token: ctx.token, apiUrl: ctx.apiUrl, owner: ctx.owner, repo: ctx.repo },
    token,
  });
  let server: ReturnType<typeof createServer> | ReturnType<typeof createTlsServer>;
  try {
    server = tls ? createTlsServer({ ...tls, minVersion: 'TLSv1.2' }, handler) : createServer(handler);
  } catch (e) {
    throw new ProjectError(
      'USAGE',
      `ALERT_RELAY_TLS_CERT_FILE / ALERT_RELAY_TLS_KEY_FILE: not a PEM certificate and its key (${(e as Error).message})`,
      {
        subject: 'ALERT_RELAY_TLS_CERT_FILE',
        cause: e,
      },
    );
  }
  await new Promise<void>((r) => server.listen(port, values.host, r));
  const bound = server.address() as { port: number };
  console.error(
    `alert relay: listening on ${tls ? 'https' : 'http'}://${values.host}:${bound.port}, dispatching drift.yml to ${ctx.owner}/${ctx.repo}`,
  );
  deps.onListening?.({ host: values.host, port: bound.port });
  const stop = () => server.close();
  if (deps.signal) deps.signal.addEventListener('abort', stop, { once: true });
  else {
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }
  await new Promise<void>((r) => server.once('close', r));
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
