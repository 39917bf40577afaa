/**
 * git-server: serve one repository over git's smart HTTP protocol on
 * loopback (git http-backend behind Node's http server), as the local
 * cluster's Argo CD reads it. `npm run cluster -- up` starts it; it also runs
 * on its own:
 *
 *   npx tsx scripts/git-server.ts [--repo-dir .] [--name repo] [--port 0] [--allow-push]
 */
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { isMain, parseCommand, parsePortFlag, runMain } from '../platform/cli.ts';
import { ProjectError } from '../platform/errors.ts';
import { gitCommonDir } from '../tools/cluster/git.ts';
import { createGitHttpHandler } from '../tools/cluster/git-server.ts';
import { serveOnLoopback } from '../tools/cluster/serve.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npx tsx scripts/git-server.ts',
  summary: `Serve one repository over git's smart HTTP protocol on 127.0.0.1 (git
http-backend behind Node's http server), as the local cluster's Argo CD reads it.
\`npm run cluster -- up\` starts it; it also runs on its own. Prints the URL it
serves at, then serves until stopped.`,
  options: {
    'repo-dir': {
      type: 'string',
      value: '<dir>',
      default: '.',
      help: 'a checkout or bare repository (its git folder is served)',
    },
    name: {
      type: 'string',
      value: '<name>',
      default: 'repo',
      help: 'served at http://127.0.0.1:<port>/<name>.git (letters, digits, . _ -)',
    },
    port: { type: 'string', value: '<n>', default: '0', help: 'port on 127.0.0.1 (0: a free one, printed)' },
    'allow-push': { type: 'boolean', default: false, help: 'accept git push (git-receive-pack)' },
  },
} as const;

/** Start serving; resolves once listening, with the URL and a close function. Exported for tests. */
export async function main(argv: string[]): Promise<{ url: string; close: () => Promise<void> } | number> {
  const cli = parseCommand(argv, COMMAND, console.log);
  if (!cli) return 0;
  const f = cli.values;
  const port = parsePortFlag(f.port);
  if (!/^[A-Za-z0-9._-]+$/.test(f.name) || f.name.startsWith('.'))
    throw new ProjectError('USAGE', `--name must be a simple name (letters, digits, . _ -), got "${f.name}"`);
  const gitDir = await gitCommonDir(resolve(f['repo-dir']));
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
