/**
 * git-server: serve one repository over git's smart HTTP protocol on
 * loopback (git http-backend behind Node's http server), as the local
 * cluster's Argo CD reads it. `npm run cluster -- up` starts it; it also runs
 * on its own:
 *
 *   npx tsx scripts/git-server.ts [--repo .] [--name repo] [--port 0] [--allow-push]
 */
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { isMain, parseFlags, runMain } from '../platform/cli.ts';
import { ProjectError } from '../platform/errors.ts';
import { gitCommonDir } from '../tools/cluster/git.ts';
import { createGitHttpHandler } from '../tools/cluster/git-server.ts';
import { serveOnLoopback } from '../tools/cluster/serve.ts';

const USAGE = `usage: git-server [--repo <dir>] [--name <name>] [--port <n>] [--allow-push]
  --repo <dir>    a checkout or bare repository (default: the current directory's)
  --name <name>   served at http://127.0.0.1:<port>/<name>.git (default: repo)
  --port <n>      port on 127.0.0.1 (default 0: a free one, printed)
  --allow-push    accept git push (git-receive-pack)`;

const FLAGS = {
  repo: { type: 'string', default: '.' },
  name: { type: 'string', default: 'repo' },
  port: { type: 'string', default: '0' },
  'allow-push': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

/** Start serving; resolves once listening, with the URL and a close function. Exported for tests. */
export async function main(argv: string[]): Promise<{ url: string; close: () => Promise<void> } | number> {
  const { values: f } = parseFlags(argv, FLAGS, USAGE);
  if (f.help) {
    console.log(USAGE);
    return 0;
  }
  const port = Number(f.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ProjectError('USAGE', `--port must be a port number, got "${f.port}"\n\n${USAGE}`);
  if (!/^[A-Za-z0-9._-]+$/.test(f.name) || f.name.startsWith('.'))
    throw new ProjectError('USAGE', `--name must be a simple name (letters, digits, . _ -), got "${f.name}"`);
  const gitDir = await gitCommonDir(resolve(f.repo));
  const server = createServer(
    createGitHttpHandler({
      gitDir,
      name: f.name,
      receivePack: f['allow-push'],
      log: (line) => console.log(line),
    }),
  );
  const { url, close } = await serveOnLoopback(server, port, 'http', `/${f.name}.git`);
  console.log(`serving ${gitDir} at ${url}${f['allow-push'] ? ' (push allowed)' : ''}`);
  return { url, close };
}

if (isMain(import.meta.url))
  await runMain(async () => {
    const r = await main(process.argv.slice(2));
    return typeof r === 'number' ? r : undefined;
  });
