/**
 * No broken relative link in the documentation (issue 25.3: train.yml
 * linked a GPU page under docs that never existed): every Markdown file of the
 * repository (README.md, SECURITY.md, CONTRIBUTING.md, docs/ with the
 * runbooks, each folder's README.md, .github/'s templates, bench/results/)
 * and every repository path in a workflow's comments.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { runSync } from '../../platform/shell.ts';
import { brokenLinks, commentLinks, markdownAnchors, markdownLinks } from './links.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** The repository's files matching `pattern`, committed or not (never ignored ones). */
const filesOf = (pattern: string): string[] =>
  runSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', pattern], { cwd: ROOT })
    .stdout.split('\0')
    .filter(Boolean)
    .sort();

describe('relative links', () => {
  it('every link of every Markdown file and every path in a workflow comment exists, anchors included', () => {
    const markdown = filesOf('*.md');
    for (const f of ['README.md', 'SECURITY.md', 'CONTRIBUTING.md', 'docs/runbooks/README.md']) {
      expect(markdown).toContain(f);
    }
    const workflows = filesOf('.github/workflows/*.yml');
    expect(workflows.length).toBeGreaterThan(5);
    expect(brokenLinks(ROOT, markdown, workflows)).toEqual([]);
  });

  it('the check can fail: a missing file, a missing heading, a path outside the repository', async () => {
    const root = await mkdtemp(join(tmpdir(), 'links-'));
    try {
      await mkdir(join(root, 'docs'));
      await mkdir(join(root, '.github', 'workflows'), { recursive: true });
      await writeFile(join(root, 'docs', 'a.md'), '# A\n\n## Drift alert → retrain\n\n## `npm run demo`\n');
      await writeFile(
        join(root, 'README.md'),
        [
          '# Read me',
          '',
          '[ok](docs/a.md#drift-alert--retrain) [ok too](docs/a.md#npm-run-demo) [self](#read-me)',
          '[gone](docs/gpu.md) [no heading](docs/a.md#gpu-runners) [out](../elsewhere.md)',
          '[web](https://example.com/x.md) `[code](docs/nothing.md)`',
          '',
          '```',
          '[fenced](docs/nothing.md)',
          '```',
          '',
          '[ref]: docs/missing.md',
          'A [reference][ref].',
        ].join('\n'),
      );
      await writeFile(
        join(root, '.github', 'workflows', 'w.yml'),
        'on: push # see docs/a.md and docs/gpu.md, docs/a.md#nope\njobs: {} # https://example.com/docs/x.md\n',
      );
      expect(brokenLinks(root, ['README.md', 'docs/a.md'], ['.github/workflows/w.yml'])).toEqual([
        'README.md:4: docs/gpu.md: docs/gpu.md does not exist',
        'README.md:4: docs/a.md#gpu-runners: docs/a.md has no heading #gpu-runners',
        'README.md:4: ../elsewhere.md: points outside the repository',
        'README.md:12: docs/missing.md: docs/missing.md does not exist',
        '.github/workflows/w.yml:1: docs/gpu.md: docs/gpu.md does not exist',
        '.github/workflows/w.yml:1: docs/a.md#nope: docs/a.md has no heading #nope',
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("headings get GitHub's ids: punctuation dropped, repeats numbered, inline code kept", () => {
    const anchors = markdownAnchors(
      '# The lock file\n## `models.lock.json`: v2\n## FAQ\n## FAQ\n<a id="custom"></a>\n## Who may train on the self-hosted runner?\n',
    );
    expect([...anchors].sort()).toEqual(
      [
        'custom',
        'faq',
        'faq-1',
        'modelslockjson-v2',
        'the-lock-file',
        'who-may-train-on-the-self-hosted-runner',
      ].sort(),
    );
    expect(markdownLinks('text [a](b.md)\n\n![img](c.png "t")')).toEqual([
      { line: 1, target: 'b.md' },
      { line: 3, target: 'c.png' },
    ]);
    expect(
      commentLinks(
        '  # cached on the runner (docs/native-backend.md#gpu-runners).\n  run: echo "#x docs/no.md" # not a path: gone.md',
      ),
    ).toEqual([{ line: 1, target: 'docs/native-backend.md#gpu-runners' }]);
  });
});
