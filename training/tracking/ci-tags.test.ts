import { describe, expect, it } from '@jest/globals';
import { sourceInfoFromActionsEnv, sourceInfoFromJob, sourceTags } from './ci-tags.ts';

describe('source tags from GitHub Actions', () => {
  it('reads commit, PR branch, PR number and head sha from a pull_request event', () => {
    const info = sourceInfoFromActionsEnv(
      {
        GITHUB_SHA: 'merge123',
        GITHUB_REF_NAME: '42/merge',
        GITHUB_HEAD_REF: 'feature/more-data',
        GITHUB_EVENT_PATH: '/event.json',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'acme/shapes',
        GITHUB_RUN_ID: '99',
      },
      (p) =>
        p === '/event.json' ? JSON.stringify({ pull_request: { number: 42, head: { sha: 'head456' } } }) : '',
    );
    expect(sourceTags(info)).toEqual({
      'mlflow.source.git.commit': 'merge123',
      'mlflow.source.git.branch': 'feature/more-data',
      'github.pr_number': '42',
      'github.pr_head_sha': 'head456',
      'github.run_url': 'https://github.com/acme/shapes/actions/runs/99',
    });
  });

  it('uses the ref name on a push and has no PR number without a payload', () => {
    const info = sourceInfoFromActionsEnv(
      { GITHUB_SHA: 'abc', GITHUB_REF_NAME: 'main', GITHUB_EVENT_PATH: '/nope' },
      () => {
        throw new Error('ENOENT');
      },
    );
    expect(sourceTags(info)).toEqual({
      'mlflow.source.git.commit': 'abc',
      'mlflow.source.git.branch': 'main',
    });
    expect(sourceTags(sourceInfoFromActionsEnv({}))).toEqual({});
  });

  it('in a training Job: the checkout commit, and the ref and repository the submitter asked for', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { runSync } = await import('../../platform/shell.ts');
    const dir = await mkdtemp(join(tmpdir(), 'job-src-'));
    try {
      const git = (...a: string[]) =>
        runSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], {
          cwd: dir,
        }).stdout.trim();
      git('init', '-q');
      await writeFile(join(dir, 'x'), 'x');
      git('add', 'x');
      git('commit', '-q', '-m', 'x');
      git('checkout', '-q', '--detach');
      const head = git('rev-parse', 'HEAD');
      const info = sourceInfoFromJob(
        {
          TRAINING_GIT_REF: 'feature/more-data',
          TRAINING_GIT_REPOSITORY: 'https://github.com/acme/models.git',
        },
        dir,
      );
      expect(sourceTags(info)).toEqual({
        'mlflow.source.git.commit': head,
        'gitops-ml.git.ref': 'feature/more-data',
        'mlflow.source.git.repoURL': 'https://github.com/acme/models.git',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
