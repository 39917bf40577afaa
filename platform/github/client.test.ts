/**
 * The GitHub client retries what GitHub asks to retry (issue 25.4), against the local
 * fake GitHub: a 5xx then 200 succeeds, a rate limit waits and retries once, a 4xx is
 * not retried, and a server that keeps failing is UNAVAILABLE after the retries.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type FakeGithub, startFakeGithub } from '../../testing/fake-github.ts';
import { type GithubApi, octokitFor } from './client.ts';
import { upsertComment } from './comment.ts';
import { sendWorkflowDispatch } from './pulls.ts';

const TOKEN = 'ghs_clienttoken';
let gh: FakeGithub;
let api: GithubApi;
beforeAll(async () => {
  gh = await startFakeGithub({ token: TOKEN });
  api = { token: TOKEN, apiUrl: gh.url, owner: gh.owner, repo: gh.repo };
});
afterAll(async () => {
  await gh.close();
});

/** Short waits: the plugins' own schedule, 5 ms instead of 1 s as its base. */
const quick = () => octokitFor(api, { baseMs: 5 });
const calls = (from: number) => gh.requests.slice(from).map((r) => `${r.method} ${r.path}`);

describe('octokitFor: retries and throttling', () => {
  it('a 502 then 200: the call succeeds on its retry', async () => {
    const from = gh.requests.length;
    gh.failNext(502);
    const r = await upsertComment(api, { issueNumber: 3, marker: '<!-- m -->', body: 'hello' }, quick());
    expect(r.action).toBe('created');
    expect(calls(from)).toEqual([
      'GET /repos/acme/models/issues/3/comments',
      'GET /repos/acme/models/issues/3/comments',
      'POST /repos/acme/models/issues/3/comments',
    ]);
  });

  it('a write is retried too: a 503 on workflow_dispatch, then it is sent once', async () => {
    const from = gh.requests.length;
    gh.failNext(503);
    await sendWorkflowDispatch(api, { workflow: 'drift.yml', ref: 'main', inputs: { reason: 'x' } }, quick());
    const path = 'POST /repos/acme/models/actions/workflows/drift.yml/dispatches';
    expect(calls(from)).toEqual([path, path]);
    expect(gh.dispatches).toHaveLength(1);
  });

  it('a rate limit (403, no requests left) waits until the reset and retries once', async () => {
    const from = gh.requests.length;
    const reset = String(Math.floor(Date.now() / 1000));
    gh.failNext(403, 1, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset });
    await upsertComment(api, { issueNumber: 3, marker: '<!-- m -->', body: 'again' }, quick());
    expect(calls(from).slice(0, 2)).toEqual([
      'GET /repos/acme/models/issues/3/comments',
      'GET /repos/acme/models/issues/3/comments',
    ]);
  });

  it('a 404 is not retried; a server that keeps failing is UNAVAILABLE after 3 retries', async () => {
    let from = gh.requests.length;
    const wrong = { ...api, repo: 'nope' };
    await expect(
      upsertComment(
        wrong,
        { issueNumber: 1, marker: '<!-- m -->', body: 'x' },
        octokitFor(wrong, { baseMs: 5 }),
      ),
    ).rejects.toMatchObject({ code: 'INVALID' });
    expect(calls(from)).toEqual(['GET /repos/acme/nope/issues/1/comments']);

    from = gh.requests.length;
    gh.failNext(500, 4);
    const e = await upsertComment(api, { issueNumber: 3, marker: '<!-- m -->', body: 'x' }, quick()).catch(
      (x: unknown) => x,
    );
    expect(e).toMatchObject({ code: 'UNAVAILABLE' });
    expect((e as Error).message).toContain('GitHub API: listing the comments of #3 failed (HTTP 500)');
    expect(calls(from)).toHaveLength(4);
  });
});
