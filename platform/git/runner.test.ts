import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProjectError } from '../errors.ts';
import { runSync } from '../shell.ts';
import { commitAndPush } from './publish.ts';
import { gitRunner, isProtectedBranchRefusal, tokenFromEnv } from './runner.ts';

let dir = '';
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', HOME: '' };
const git = (cwd: string, ...args: string[]) =>
  runSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    env,
  }).stdout.trim();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'git-runner-'));
  env.HOME = dir;
  git(dir, 'init', '-q', '--bare', '-b', 'main', 'origin.git');
  git(dir, 'clone', '-q', join(dir, 'origin.git'), 'work');
  await writeFile(join(dir, 'work', 'a.txt'), 'a\n');
  git(join(dir, 'work'), 'add', 'a.txt');
  git(join(dir, 'work'), 'commit', '-q', '-m', 'a');
  git(join(dir, 'work'), 'push', '-q', 'origin', 'main');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('a token for pushes from the step environment (tokenFromEnv)', () => {
  it('takes GITHUB_TOKEN for GITHUB_SERVER_URL, both or nothing', () => {
    expect(tokenFromEnv({ GITHUB_TOKEN: 't', GITHUB_SERVER_URL: 'https://github.com' })).toEqual({
      token: 't',
      serverUrl: 'https://github.com',
    });
    expect(tokenFromEnv({ GITHUB_SERVER_URL: 'https://github.com' })).toEqual({});
    expect(tokenFromEnv({ GITHUB_TOKEN: 't' })).toEqual({});
  });

  it("reaches git as the server's auth header, never written to .git/config", async () => {
    const work = join(dir, 'work');
    const runner = gitRunner(work, {
      env: { ...env, GITHUB_TOKEN: 'ghs_app_token', GITHUB_SERVER_URL: 'https://github.com' },
      ...tokenFromEnv({ GITHUB_TOKEN: 'ghs_app_token', GITHUB_SERVER_URL: 'https://github.com' }),
    });
    expect(await runner.run(['config', '--get', 'http.https://github.com/.extraheader'])).toBe(
      `AUTHORIZATION: basic ${Buffer.from('x-access-token:ghs_app_token').toString('base64')}`,
    );
    expect(await readFile(join(work, '.git', 'config'), 'utf8')).not.toContain('extraheader');
    // Without the token, no header.
    const plain = gitRunner(work, { env });
    expect((await plain.tryRun(['config', '--get', 'http.https://github.com/.extraheader'])).code).toBe(1);
  });
});

describe("a push that main's protection refuses", () => {
  it('names the promotion App in its hint (GitHub answers GH006 / GH013)', async () => {
    expect(
      isProtectedBranchRefusal('remote: error: GH006: Protected branch update failed for refs/heads/main.'),
    ).toBe(true);
    expect(
      isProtectedBranchRefusal('remote: error: GH013: Repository rule violations found for refs/heads/main.'),
    ).toBe(true);
    expect(isProtectedBranchRefusal(' ! [rejected]        main -> main (fetch first)')).toBe(false);
    // The origin refuses as GitHub does for a main that requires reviews.
    const hook = join(dir, 'origin.git', 'hooks', 'pre-receive');
    await writeFile(
      hook,
      '#!/bin/sh\necho "error: GH006: Protected branch update failed for refs/heads/main." >&2\necho "error: Changes must be made through a pull request." >&2\nexit 1\n',
    );
    await chmod(hook, 0o755);
    const work = join(dir, 'work');
    await writeFile(join(work, 'b.txt'), 'b\n');
    const runner = gitRunner(work, { env });
    const err = await commitAndPush({
      git: runner,
      branch: 'main',
      paths: ['b.txt'],
      message: 'b',
      reapply: async () => undefined,
      log: () => {},
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).code).toBe('UNAVAILABLE');
    expect((err as ProjectError).message).toContain('GH006: Protected branch update failed');
    expect((err as ProjectError).hint).toBe(
      'main is protected (required reviews: a ruleset or branch protection); promotions push with the promotion App\'s token, which its bypass list names: pass it as GITHUB_TOKEN (README "The write path")',
    );
  });
});
