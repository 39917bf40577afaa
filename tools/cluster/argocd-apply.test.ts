import { describe, expect, it } from '@jest/globals';
import { pointAtLocalGit } from './argocd-apply.ts';

describe('npm run cluster -- argocd: the Argo CD objects read the local Git server', () => {
  const local = 'http://127.0.0.1:40130/repo.git';

  it("replaces the placeholder's and a fork's repository URL, wherever it stands", () => {
    const text = [
      'sourceRepos:',
      '  - https://github.com/OWNER/REPO.git',
      'source:',
      '  repoURL: https://github.com/acme/image-classifier.git',
      '  targetRevision: main',
    ].join('\n');
    expect(pointAtLocalGit(text, local)).toBe(
      ['sourceRepos:', `  - ${local}`, 'source:', `  repoURL: ${local}`, '  targetRevision: main'].join('\n'),
    );
  });

  it('leaves links into the repository (runbooks) and other hosts alone', () => {
    const text = [
      'runbook_url: https://github.com/acme/image-classifier/blob/main/docs/runbooks/drift.md',
      'repoURL: https://gitlab.com/acme/image-classifier.git',
      'chart: https://github.com/acme/charts.gitops/releases',
    ].join('\n');
    expect(pointAtLocalGit(text, local)).toBe(text);
  });
});
