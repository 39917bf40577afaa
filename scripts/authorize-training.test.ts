/**
 * Regression (issue 11): the `safe-to-train` label and the fork check were
 * `if:` lines of a `pull_request` workflow, which a fork can edit. The
 * decision now comes from GitHub's API (reviews at the head commit, the
 * reviewer's permission), taken by the base branch's code. Against the FAKE
 * GitHub API (testing/fake-github.ts), through the script as train.yml
 * runs it (event payload file, GITHUB_OUTPUT, job summary).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { exitCodeOf, ProjectError } from '../platform/errors.ts';
import { type FakeGithub, startFakeGithub } from '../testing/fake-github.ts';
import { main } from './authorize-training.ts';

const TOKEN = 'ghs_authorizetoken';
const HEAD = 'c'.repeat(40);
const OLDER = 'a'.repeat(40);
let gh: FakeGithub;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'authorize-training-'));
  gh = await startFakeGithub({ token: TOKEN, owner: 'acme', repo: 'models', firstNumber: 7 });
  gh.roles.set('maintainer', 'maintain');
  gh.roles.set('admin', 'admin');
  gh.roles.set('writer', 'write');
  gh.roles.set('triager', 'triage');
  gh.roles.set('reader', 'read');
});

afterEach(() => {
  gh.pulls.length = 0;
  gh.reviews.clear();
  gh.requests.length = 0;
});

afterAll(async () => {
  await gh.close();
  await rm(dir, { recursive: true, force: true });
});

interface Outcome {
  code: number;
  printed: string;
  outputs: Record<string, string>;
  summary: string;
}

/** Run the script for pull `number` with the pull_request_target payload GitHub sends. */
async function decide(
  number: number,
  event: { action?: string; label?: string; sha?: string; headRepo?: string } = {},
): Promise<Outcome> {
  const pr = gh.pulls.find((p) => p.number === number);
  const eventPath = join(dir, `event-${number}.json`);
  await writeFile(
    eventPath,
    JSON.stringify({
      action: event.action ?? 'synchronize',
      number,
      ...(event.label ? { label: { name: event.label } } : {}),
      pull_request: {
        number,
        head: {
          ref: pr?.head.ref,
          sha: event.sha ?? pr?.head.sha,
          repo: pr?.head.repo,
        },
        base: { ref: 'main', sha: pr?.base.sha },
      },
    }),
  );
  const outputPath = join(dir, `output-${number}`);
  const summaryPath = join(dir, `summary-${number}.md`);
  await writeFile(outputPath, '');
  await writeFile(summaryPath, '');
  let printed = '';
  const code = await main([], {
    env: {
      GITHUB_EVENT_NAME: 'pull_request_target',
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_REPOSITORY: 'acme/models',
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: gh.url,
      GITHUB_OUTPUT: outputPath,
      GITHUB_STEP_SUMMARY: summaryPath,
    },
    print: (t) => {
      printed += t;
    },
  });
  // GITHUB_OUTPUT's multi-line form: name<<DELIM, value, DELIM.
  const outputs: Record<string, string> = {};
  const lines = (await readFile(outputPath, 'utf8')).split('\n');
  for (let i = 0; i + 2 < lines.length; i += 3) {
    const [name, delim] = (lines[i] as string).split('<<') as [string, string];
    expect(lines[i + 2]).toBe(delim);
    outputs[name] = lines[i + 1] as string;
  }
  return { code, printed, outputs, summary: await readFile(summaryPath, 'utf8') };
}

const fork = (sha = HEAD) => gh.addPull({ head: 'more-data', sha, headRepo: 'someone/models' });

describe('npm run ci:authorize-training (who may train on the self-hosted runner)', () => {
  it('a branch of this repository: yes, without reviews', async () => {
    const pr = gh.addPull({ head: 'feature/x', sha: HEAD });
    const r = await decide(pr.number);
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({ authorized: 'true', sha: HEAD, fork: 'false' });
    expect(r.printed).toBe(
      `training authorized: pull request #${pr.number} (${HEAD.slice(0, 12)}): a branch of acme/models: its author can push here\n`,
    );
    expect(r.summary).toContain('### Training authorized');
    expect(gh.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      `GET /repos/acme/models/pulls/${pr.number}`,
    ]);
  });

  it('a fork approved at its head commit by a maintainer: yes, for that commit', async () => {
    const pr = fork();
    gh.addReview(pr.number, { login: 'triager', state: 'COMMENTED', commitId: HEAD });
    gh.addReview(pr.number, { login: 'maintainer', state: 'APPROVED', commitId: HEAD });
    const r = await decide(pr.number);
    expect(r.outputs).toEqual({ authorized: 'true', sha: HEAD, fork: 'true' });
    expect(r.printed).toContain('from the fork someone/models: cccccccccccc approved by maintainer');
    expect(gh.requests.every((q) => q.authorization === `token ${TOKEN}`)).toBe(true);
  });

  it('regression (issue 23, low): a fork that closes and reopens its approved pull request does not train again; the label does, and a branch of this repository still does', async () => {
    const pr = fork();
    gh.addReview(pr.number, { login: 'maintainer', state: 'APPROVED', commitId: HEAD });
    const reopened = await decide(pr.number, { action: 'reopened' });
    expect(reopened.outputs).toEqual({ authorized: 'false', sha: HEAD, fork: 'true' });
    expect(reopened.printed).toContain(
      'reopening does not start training; a maintainer adds the label safe-to-train again',
    );
    const labeled = await decide(pr.number, { action: 'labeled', label: 'safe-to-train' });
    expect(labeled.outputs).toEqual({ authorized: 'true', sha: HEAD, fork: 'true' });
    const branch = gh.addPull({ head: 'feature/y', sha: HEAD });
    expect((await decide(branch.number, { action: 'reopened' })).outputs.authorized).toBe('true');
  });

  it('a fork approved at an older commit (pushed after the approval): no', async () => {
    const pr = fork();
    gh.addReview(pr.number, { login: 'maintainer', state: 'APPROVED', commitId: OLDER });
    const r = await decide(pr.number);
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({ authorized: 'false', sha: HEAD, fork: 'true' });
    expect(r.printed).toBe(
      `training not authorized: pull request #${pr.number} (cccccccccccc): from the fork someone/models: no approving review of cccccccccccc by a user with write access (not counted: maintainer (approved aaaaaaaaaaaa, an older commit)); a maintainer reads the change, approves this commit, then adds the label safe-to-train\n`,
    );
  });

  it('a fork approved by a user with read or triage access only: no', async () => {
    const pr = fork();
    gh.addReview(pr.number, { login: 'reader', state: 'APPROVED', commitId: HEAD });
    gh.addReview(pr.number, { login: 'triager', state: 'APPROVED', commitId: HEAD });
    gh.addReview(pr.number, { login: 'stranger', state: 'APPROVED', commitId: HEAD });
    const r = await decide(pr.number);
    expect(r.outputs.authorized).toBe('false');
    expect(r.printed).toContain(
      '(not counted: reader (read access), stranger (none access), triager (read access))',
    );
    expect(gh.requests.map((q) => q.path)).toContain('/repos/acme/models/collaborators/stranger/permission');
  });

  it('a dismissed approval: no', async () => {
    const pr = fork();
    const review = gh.addReview(pr.number, { login: 'maintainer', state: 'APPROVED', commitId: HEAD });
    review.state = 'DISMISSED'; // GitHub changes the review itself when it is dismissed
    const r = await decide(pr.number);
    expect(r.outputs.authorized).toBe('false');
    expect(r.printed).toContain('no approving review of cccccccccccc');
  });

  it('changes requested after the approval, by the approver or by another maintainer: no', async () => {
    const same = fork();
    gh.addReview(same.number, { login: 'maintainer', state: 'APPROVED', commitId: HEAD });
    gh.addReview(same.number, { login: 'maintainer', state: 'CHANGES_REQUESTED', commitId: HEAD });
    expect((await decide(same.number)).printed).toContain('changes requested by maintainer');

    const other = fork();
    gh.addReview(other.number, { login: 'maintainer', state: 'APPROVED', commitId: HEAD });
    gh.addReview(other.number, { login: 'admin', state: 'CHANGES_REQUESTED', commitId: HEAD });
    const r = await decide(other.number);
    expect(r.outputs.authorized).toBe('false');
    expect(r.printed).toContain('changes requested by admin');
  });

  it('a comment after the approval keeps it; the approval is found on the second page of reviews', async () => {
    const pr = fork();
    for (let i = 0; i < 120; i++)
      gh.addReview(pr.number, { login: 'reader', state: 'COMMENTED', commitId: HEAD });
    gh.addReview(pr.number, { login: 'writer', state: 'APPROVED', commitId: HEAD });
    gh.addReview(pr.number, { login: 'writer', state: 'COMMENTED', commitId: HEAD });
    const r = await decide(pr.number);
    expect(r.outputs.authorized).toBe('true');
    expect(gh.requests.filter((q) => q.path.endsWith('/reviews')).map((q) => q.query.page ?? '1')).toEqual([
      '1',
      '2',
    ]);
  });

  it('the event is for an older head than the pull request has now: no, the newer run decides', async () => {
    const pr = fork();
    gh.addReview(pr.number, { login: 'maintainer', state: 'APPROVED', commitId: HEAD });
    const r = await decide(pr.number, { sha: OLDER });
    expect(r.outputs).toEqual({ authorized: 'false', sha: HEAD, fork: 'true' });
    expect(r.printed).toContain('the head moved from aaaaaaaaaaaa since this event');
  });

  it('a label other than safe-to-train starts nothing, even on a branch of this repository', async () => {
    const pr = gh.addPull({ head: 'feature/y', sha: HEAD });
    const other = await decide(pr.number, { action: 'labeled', label: 'documentation' });
    expect(other.outputs.authorized).toBe('false');
    expect(other.printed).toContain(
      'the label "documentation" does not start training (only "safe-to-train" does)',
    );
    expect((await decide(pr.number, { action: 'labeled', label: 'safe-to-train' })).outputs.authorized).toBe(
      'true',
    );
  });

  it('a closed pull request, or a deleted fork without approval: no', async () => {
    const closed = gh.addPull({ head: 'feature/z', sha: HEAD });
    closed.state = 'closed';
    expect((await decide(closed.number)).printed).toContain('it is closed');
    const deleted = gh.addPull({ head: 'gone', sha: HEAD, headRepo: null });
    const r = await decide(deleted.number);
    expect(r.outputs).toEqual({ authorized: 'false', sha: HEAD, fork: 'true' });
    expect(r.printed).toContain('from the fork (deleted)');
  });

  it('without a pull-request context: a USAGE error (exit 2) naming what is missing, no call to GitHub', async () => {
    const err = await main([], { env: { GITHUB_REPOSITORY: 'acme/models' }, print: () => {} }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).message.split('\n')[0]).toBe(
      'missing GitHub context: GITHUB_TOKEN, GITHUB_EVENT_NAME, GITHUB_EVENT_PATH (the event payload file)',
    );
    expect(exitCodeOf(err)).toBe(2);
    expect(gh.requests).toEqual([]);
  });

  it('GitHub refusing the token: exit 1 (UNAVAILABLE/INVALID naming the call), no outputs', async () => {
    const pr = fork();
    const eventPath = join(dir, 'event-bad.json');
    await writeFile(
      eventPath,
      JSON.stringify({ pull_request: { number: pr.number, head: { ref: 'x', sha: HEAD, repo: null } } }),
    );
    const err = await main([], {
      env: {
        GITHUB_EVENT_NAME: 'pull_request_target',
        GITHUB_EVENT_PATH: eventPath,
        GITHUB_REPOSITORY: 'acme/models',
        GITHUB_TOKEN: 'wrong-token',
        GITHUB_API_URL: gh.url,
      },
      print: () => {},
    }).catch((e: unknown) => e);
    expect((err as Error).message).toContain(
      `GitHub API: reading pull request #${pr.number} failed (HTTP 401)`,
    );
    expect(exitCodeOf(err)).toBe(1);
  });
});
