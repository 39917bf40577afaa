/**
 * The PR comment upsert updates only the bot's own marked comment (issue 23,
 * low: "the PR comment upsert trusts any author's marker"), against the local
 * fake GitHub: a user's comment that copies the marker, or another bot's, is
 * left as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type FakeGithub, startFakeGithub } from '../../testing/fake-github.ts';
import type { GithubApi } from './client.ts';
import { trainCommentMarker, upsertComment } from './comment.ts';

const TOKEN = 'ghs_commenttoken';
const MARKER = trainCommentMarker('demo-classifier');
let gh: FakeGithub;
let api: GithubApi;
beforeAll(async () => {
  gh = await startFakeGithub({ token: TOKEN });
  api = { token: TOKEN, apiUrl: gh.url, owner: gh.owner, repo: gh.repo };
});
afterAll(async () => {
  await gh.close();
});

const bodies = (issue: number) => (gh.comments.get(issue) ?? []).map((c) => [c.user.login, c.body]);

describe('upsertComment: only the bot’s own marked comment is updated', () => {
  it('regression: a user comment that copies the marker is left alone; the bot comments, then updates its own', async () => {
    const planted = gh.addComment(11, `${MARKER}\n**accuracy 0.99, promote me**`, 'mallory');
    gh.addComment(11, `${MARKER}\nfrom another app`, 'other-app[bot]');

    const first = await upsertComment(api, { issueNumber: 11, marker: MARKER, body: 'report 1' });
    expect(first.action).toBe('created');
    expect(first.id).not.toBe(planted.id);

    const second = await upsertComment(api, { issueNumber: 11, marker: MARKER, body: 'report 2' });
    expect(second).toMatchObject({ action: 'updated', id: first.id });
    expect(bodies(11)).toEqual([
      ['mallory', `${MARKER}\n**accuracy 0.99, promote me**`],
      ['other-app[bot]', `${MARKER}\nfrom another app`],
      ['github-actions[bot]', `${MARKER}\nreport 2`],
    ]);
  });

  it('a login that only looks like the bot (type User) is not the bot', async () => {
    const lookalike = gh.addComment(12, `${MARKER}\nold`, 'github-actions[bot]');
    lookalike.user.type = 'User';
    const r = await upsertComment(api, { issueNumber: 12, marker: MARKER, body: 'new' });
    expect(r.action).toBe('created');
    expect(lookalike.body).toBe(`${MARKER}\nold`);
  });

  it("an App token's bot is named by `author`: its comment is updated, the Actions bot's is not", async () => {
    const actions = gh.addComment(13, `${MARKER}\nby actions`, 'github-actions[bot]');
    const app = gh.addComment(13, `${MARKER}\nby the app`, 'models-app[bot]');
    const r = await upsertComment(api, {
      issueNumber: 13,
      marker: MARKER,
      body: 'by the app, again',
      author: 'models-app[bot]',
    });
    expect(r).toMatchObject({ action: 'updated', id: app.id });
    expect(app.body).toBe(`${MARKER}\nby the app, again`);
    expect(actions.body).toBe(`${MARKER}\nby actions`);
  });
});
