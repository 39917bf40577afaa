import { describe, expect, it } from '@jest/globals';
import { exitCodeOf, ProjectError } from '../errors.ts';
import { readPullRequestContext, readRepoContext } from './context.ts';

const payload = JSON.stringify({
  pull_request: {
    number: 12,
    head: { ref: 'feature/x', sha: 'a'.repeat(40), repo: { full_name: 'someone/models' } },
    base: { ref: 'main' },
  },
});
const env = {
  GITHUB_EVENT_NAME: 'pull_request',
  GITHUB_EVENT_PATH: '/event.json',
  GITHUB_REPOSITORY: 'acme/models',
  GITHUB_TOKEN: 't',
  GITHUB_RUN_ID: '5',
};

describe('readPullRequestContext', () => {
  it('reads the PR from the event payload with @actions/github defaults for the URLs', () => {
    expect(readPullRequestContext(env, () => payload)).toEqual({
      owner: 'acme',
      repo: 'models',
      token: 't',
      apiUrl: 'https://api.github.com',
      serverUrl: 'https://github.com',
      eventName: 'pull_request',
      runUrl: 'https://github.com/acme/models/actions/runs/5',
      prNumber: 12,
      headRef: 'feature/x',
      headSha: 'a'.repeat(40),
      baseRef: 'main',
      fromFork: true,
    });
  });

  it('names every missing piece in one USAGE error (exit 2)', () => {
    const err = (() => {
      try {
        readPullRequestContext(
          { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: '/e.json' },
          () => '{"pull_request":{"number":3}}',
        );
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).message.split('\n')[0]).toBe(
      'missing GitHub context: GITHUB_REPOSITORY ("owner/repo"), GITHUB_TOKEN, pull_request.head.ref in /e.json, pull_request.head.sha in /e.json',
    );
    expect(exitCodeOf(err)).toBe(2);
  });

  it('without needsToken, GITHUB_TOKEN may be absent (the train job, which runs the pull request code, gets none)', () => {
    const { GITHUB_TOKEN: _, ...noToken } = env;
    expect(readPullRequestContext(noToken, () => payload, { needsToken: false })).toMatchObject({
      token: '',
      prNumber: 12,
      headSha: 'a'.repeat(40),
    });
    expect(() => readPullRequestContext(noToken, () => payload)).toThrow(
      'missing GitHub context: GITHUB_TOKEN',
    );
  });

  it('says when the payload file cannot be read', () => {
    expect(() =>
      readPullRequestContext(env, () => {
        throw new Error('ENOENT: no such file');
      }),
    ).toThrow('a readable JSON event payload at GITHUB_EVENT_PATH=/event.json (ENOENT: no such file)');
  });

  it('readRepoContext refuses a malformed GITHUB_REPOSITORY', () => {
    expect(() => readRepoContext({ GITHUB_REPOSITORY: 'acme', GITHUB_TOKEN: 't' })).toThrow(
      'missing GitHub context: GITHUB_REPOSITORY ("owner/repo")',
    );
  });
});
