import { describe, expect, it } from '@jest/globals';
import { exitCodeOf, ProjectError } from '../../platform/errors.ts';
import { main } from '../../scripts/init.ts';
import { forkNames, placeholderLines, replacePlaceholders } from './init.ts';

/** image.yml's shell default, which only contains the word. */
const SHELL_DEFAULT = ['$', '{REGISTRY:-ghcr.io/', '$', '{REPO_OWNER,,}}'].join('');
const NAMES = forkNames({ repo: 'acme/image-classifier', registry: 'ghcr.io/acme' });

describe('forkNames', () => {
  it('defaults the registry and the team from the owner (lowercase registry)', () => {
    expect(forkNames({ repo: 'Acme-Labs/models' })).toEqual({
      repo: 'Acme-Labs/models',
      registry: 'ghcr.io/acme-labs',
      team: '@Acme-Labs/ml-maintainers',
    });
    expect(forkNames({ repo: 'acme/m', registry: 'registry.example.com:5000/ml/', team: '@alice' })).toEqual({
      repo: 'acme/m',
      registry: 'registry.example.com:5000/ml',
      team: '@alice',
    });
  });

  it.each([
    [{ repo: 'acme' }, '--repo "acme" is not a GitHub repository "owner/name"'],
    [{ repo: 'https://github.com/acme/m' }, '--repo "https://github.com/acme/m" is not a GitHub repository'],
    [{ repo: 'acme/m.git' }, '--repo "acme/m.git" is not a GitHub repository'],
    [{ repo: 'acme/m', registry: 'ghcr.io/Acme' }, '--registry "ghcr.io/Acme" is not an image registry path'],
    [{ repo: 'acme/m', registry: 'ghcr.io' }, '--registry "ghcr.io" is not an image registry path'],
    [
      { repo: 'acme/m', team: 'acme/ml' },
      '--team "acme/ml" is not a GitHub team "@org/team" or user "@login"',
    ],
  ])('refuses %j: USAGE (exit 2) naming the flag and an example', (flags, message) => {
    let error: unknown;
    try {
      forkNames(flags);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProjectError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toContain('e.g. --');
    expect(exitCodeOf(error)).toBe(2);
  });

  it('the command: --repo is required, an unknown flag is bad usage', async () => {
    await expect(main([], { print: () => {} })).rejects.toThrow('--repo is required');
    await expect(main(['--repo', 'acme/m', '--owner', 'x'], { print: () => {} })).rejects.toMatchObject({
      code: 'USAGE',
    });
  });
});

describe('replacePlaceholders', () => {
  it('replaces the repository, the registry and the team where they stand, and nothing that only contains them', () => {
    const template = [
      '    repoURL: https://github.com/OWNER/REPO.git',
      '  - name: ghcr.io/OWNER/model-server',
      '/models.lock.json      @OWNER/ml-maintainers',
      'runbook_url: https://github.com/OWNER/REPO/blob/main/docs/runbooks/serving-no-traffic.md#fast-burn',
      '`OWNER/REPO/.github/workflows/train.yml@refs/heads/main`',
      `# Who must approve (.github/CODEOWNERS); registry="${SHELL_DEFAULT}"`,
      'value: OWNER/REPO',
    ].join('\n');
    expect(replacePlaceholders(template, NAMES).split('\n')).toEqual([
      '    repoURL: https://github.com/acme/image-classifier.git',
      '  - name: ghcr.io/acme/model-server',
      '/models.lock.json      @acme/ml-maintainers',
      'runbook_url: https://github.com/acme/image-classifier/blob/main/docs/runbooks/serving-no-traffic.md#fast-burn',
      '`acme/image-classifier/.github/workflows/train.yml@refs/heads/main`',
      `# Who must approve (.github/CODEOWNERS); registry="${SHELL_DEFAULT}"`,
      'value: acme/image-classifier',
    ]);
    expect(replacePlaceholders('not-OWNER/REPO-ish ghcr.io/OWNERS', NAMES)).toBe(
      'not-OWNER/REPO-ish ghcr.io/OWNERS',
    );
    // Idempotent: the result has nothing left to replace.
    const once = replacePlaceholders(template, NAMES);
    expect(replacePlaceholders(once, NAMES)).toBe(once);
    expect(placeholderLines(once)).toEqual([]);
    expect(placeholderLines('a\nvalue: OWNER\n')).toEqual(['2: value: OWNER']);
  });
});
