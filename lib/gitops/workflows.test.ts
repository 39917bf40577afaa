import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { REPO_ROOT } from './testing/repo.ts';
import { checkWorkflowsDir, workflowProblems } from './workflows.ts';

const DIR = join(REPO_ROOT, '.github', 'workflows');
const SHA = 'actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0';
const load = async (f: string) => parse(await readFile(join(DIR, f), 'utf8'));

describe('the repository workflows', () => {
  test('all five exist and follow the policy', async () => {
    const { files, problems } = await checkWorkflowsDir(DIR);
    expect(files).toEqual(
      expect.arrayContaining(['ci.yml', 'drift.yml', 'promote.yml', 'train.yml', 'verify.yml']),
    );
    expect(problems).toEqual([]);
  });

  test('train.yml: pull_request only, self-hosted GPU runner behind the fork guard, npm run train:ci', async () => {
    const wf = await load('train.yml');
    expect(Object.keys(wf.on)).toEqual(['pull_request']);
    expect(wf.on.pull_request.paths).toEqual(
      expect.arrayContaining(['training/**', 'data/**', 'training/configs/**']),
    );
    expect(wf.jobs.train['runs-on']).toEqual(['self-hosted', 'gpu']);
    expect(wf.jobs.train.if).toContain('github.event.pull_request.head.repo.full_name == github.repository');
    expect(wf.jobs.train.if).toContain("github.event.label.name == 'safe-to-train'");
    expect(wf.jobs.train.steps.map((s: { run?: string }) => s.run).filter(Boolean)).toContain(
      'npm run train:ci',
    );
  });

  test('promote.yml: dev, then staging and prod behind their environments, one concurrency group each, never cancelled', async () => {
    const wf = await load('promote.yml');
    expect(wf.on.push.branches).toEqual(['main']);
    for (const env of ['dev', 'staging', 'prod']) {
      const job = wf.jobs[`promote-${env}`];
      expect(job.environment).toBe(env);
      expect(job.concurrency).toEqual({ group: `promote-${env}`, 'cancel-in-progress': false });
      expect(job.steps.at(-1).run).toBe(`npm run promote -- --env ${env} --commit --push`);
      expect(wf.jobs[`verify-${env}`]).toMatchObject({
        uses: './.github/workflows/verify.yml',
        with: { env },
      });
    }
    expect(wf.jobs['promote-staging'].needs).toBe('verify-dev');
    expect(wf.jobs['promote-prod'].needs).toBe('verify-staging');
  });

  test('verify.yml and drift.yml call their scripts on their events', async () => {
    const verify = await load('verify.yml');
    expect(Object.keys(verify.on).sort()).toEqual(['workflow_call', 'workflow_dispatch']);
    expect(verify.jobs.verify.steps.at(-1).run).toBe('npm run verify-rollout -- --env "$VERIFY_ENV"');
    const drift = await load('drift.yml');
    expect(Object.keys(drift.on).sort()).toEqual(['repository_dispatch', 'schedule', 'workflow_dispatch']);
    expect(drift.on.repository_dispatch.types).toEqual(['drift-alert']);
    expect(drift.jobs.retrain.steps.at(-1).run).toBe('npm run retrain');
  });
});

describe('workflowProblems', () => {
  const wf = (body: string) => `name: t\non:\n  pull_request:\npermissions: {}\njobs:\n${body}`;

  test('a job without permissions, an unpinned action and a missing version comment', () => {
    const text = wf(
      [
        '  a:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - uses: actions/checkout@v5',
        '      - uses: actions/setup-node@2028fbc5c25fe9cf00d9f06a71cc4710d4507903',
        '',
      ].join('\n'),
    );
    expect(workflowProblems('t.yml', text)).toEqual([
      't.yml: job a: no permissions',
      't.yml: job a: actions/checkout@v5 is not pinned to a full commit SHA',
      't.yml:9: actions/checkout@v5 has no "# vX" comment naming the release',
      't.yml:10: actions/setup-node@2028fbc5c25fe9cf00d9f06a71cc4710d4507903 has no "# vX" comment naming the release',
    ]);
  });

  test('a self-hosted job for pull requests without the fork guard', () => {
    const text = wf(
      [
        '  a:',
        '    runs-on: [self-hosted, gpu]',
        '    permissions: {}',
        '    steps:',
        `      - uses: ${SHA}`,
        '',
      ].join('\n'),
    );
    expect(workflowProblems('t.yml', text)).toEqual([
      't.yml: job a: runs on a self-hosted runner for pull_request without the fork guard (github.event.pull_request.head.repo.full_name == github.repository || label safe-to-train)',
    ]);
  });

  test('pull_request_target on a self-hosted runner, and write permissions at the top', () => {
    const text = [
      'on: pull_request_target',
      'permissions:',
      '  contents: write',
      'jobs:',
      '  a:',
      '    runs-on: [self-hosted]',
      '    permissions: {}',
      '    steps:',
      '      - run: echo',
      '',
    ].join('\n');
    expect(workflowProblems('t.yml', text)).toEqual([
      't.yml: top-level permissions grant more than read',
      't.yml: job a: runs on a self-hosted runner for pull_request_target (fork code with secrets)',
    ]);
  });

  test('fields of the wrong shape are read as absent, never a TypeError', () => {
    const text = [
      'on: push',
      'permissions: 5',
      'jobs:',
      '  a: 5',
      '  b:',
      '    permissions: {}',
      '    steps: 5',
      '  c:',
      '    permissions: {}',
      '    runs-on: {labels: self-hosted}',
      '    steps: [null, {uses: 7}]',
      '',
    ].join('\n');
    expect(workflowProblems('w.yml', text)).toEqual([
      'w.yml: top-level permissions grant more than read',
      'w.yml: job a: no permissions',
    ]);
    expect(workflowProblems('w.yml', '- a list\n')).toEqual(['w.yml: not a workflow']);
  });
});
