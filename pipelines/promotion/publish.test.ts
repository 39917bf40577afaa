import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runSync } from '../../platform/shell.ts';
import type { PromotionContext } from './context.ts';
import { openGit } from './publish.ts';

let dir = '';
const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'promotion-git-'));
  const env = { ...base, HOME: dir };
  const git = (...args: string[]) => runSync('git', args, { cwd: dir, env });
  git('init', '-q', '-b', 'main');
  await writeFile(join(dir, 'models.lock.json'), '{}\n');
  git('add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'template');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The context openGit reads: where git runs and how it commits and pushes. */
const context = (env: Record<string, string>) =>
  ({ root: dir, git: { commit: true, push: true, remote: 'origin', env } }) as unknown as PromotionContext;

it("pushes with the step's GITHUB_TOKEN (promote.yml: the promotion App's token) as the server's header, never in .git/config", async () => {
  const env = {
    ...base,
    HOME: dir,
    GITHUB_TOKEN: 'ghs_promotion_app',
    GITHUB_SERVER_URL: 'https://github.com',
  };
  const session = await openGit(context(env), ['models.lock.json']);
  expect(session?.branch).toBe('main');
  expect(await session?.git.run(['config', '--get', 'http.https://github.com/.extraheader'])).toBe(
    `AUTHORIZATION: basic ${Buffer.from('x-access-token:ghs_promotion_app').toString('base64')}`,
  );
  expect(await readFile(join(dir, '.git', 'config'), 'utf8')).not.toContain('ghs_promotion_app');
  // Run by a person (no GITHUB_SERVER_URL): git's own credentials, no header.
  const local = await openGit(context({ ...base, HOME: dir, GITHUB_TOKEN: 'ghs_x' }), ['models.lock.json']);
  expect((await local?.git.tryRun(['config', '--get', 'http.https://github.com/.extraheader']))?.code).toBe(
    1,
  );
});
