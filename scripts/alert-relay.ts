/**
 * The drift-alert relay server: Alertmanager's webhook receiver
 * (monitoring/alertmanager/alertmanager.yml) → GitHub repository_dispatch
 * "drift-alert" → drift.yml → `npm run retrain`.
 *
 *   GITHUB_REPOSITORY=owner/repo GITHUB_TOKEN=... [GITHUB_API_URL=...] \
 *   tsx scripts/alert-relay.ts [--port 8080] [--host 0.0.0.0]
 *
 * The token needs `contents: write` on the repository (a fine-grained PAT or
 * a GitHub App token). Exit codes: 0, 1 failure, 2 bad usage.
 */
import { createServer } from 'node:http';
import { readRepoContext } from '../lib/github/index.ts';
import { isMain, ProjectError, parseFlags, runMain } from '../lib/index.ts';
import { createAlertRelay } from '../monitoring/alert-relay.ts';

const USAGE =
  'usage: tsx scripts/alert-relay.ts [--port 8080] [--host 0.0.0.0]  (env: GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL)';

export async function main(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      port: { type: 'string', default: env.ALERT_RELAY_PORT ?? '8080' },
      host: { type: 'string', default: '0.0.0.0' },
    },
    USAGE,
  );
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ProjectError('USAGE', `--port ${values.port} is not a port number`, { subject: '--port' });
  }
  const ctx = readRepoContext(env);
  const server = createServer(
    createAlertRelay({ api: { token: ctx.token, apiUrl: ctx.apiUrl, owner: ctx.owner, repo: ctx.repo } }),
  );
  await new Promise<void>((r) => server.listen(port, values.host, r));
  console.error(`alert relay: listening on ${values.host}:${port}, dispatching to ${ctx.owner}/${ctx.repo}`);
  const stop = () => server.close();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await new Promise<void>((r) => server.once('close', r));
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
