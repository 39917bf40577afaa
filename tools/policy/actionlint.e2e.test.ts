// actionlint (https://github.com/rhysd/actionlint) on every workflow of the
// repository, with .github/actionlint.yaml (self-hosted runner labels).
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from '@jest/globals';
import { run } from '../../platform/shell.ts';
import { REPO_ROOT } from '../../testing/gitops/repo.ts';
import { needs, tool } from '../../testing/services.ts';

const actionlint = tool('actionlint', 'run scripts/setup.d/20-kube-tools.sh');
const { it } = needs(actionlint);

/** Lint every workflow under `<root>/.github/workflows` with `<root>/.github/actionlint.yaml`. */
async function lint(root: string): Promise<{ code: number; out: string }> {
  const dir = join(root, '.github', 'workflows');
  const files = (await readdir(dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join('.github', 'workflows', f));
  const args = ['-no-color', '-config-file', join('.github', 'actionlint.yaml'), ...files.sort()];
  const r = await run(actionlint.path, args, { cwd: root, nothrow: true });
  return { code: r.code, out: `${r.stdout}${r.stderr}` };
}

describe('actionlint', () => {
  it('passes on every workflow in .github/workflows', async () => {
    expect(await lint(REPO_ROOT)).toEqual({ code: 0, out: '' });
  });

  it('fails on a broken workflow (so the check above can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gitops-actionlint-'));
    try {
      await mkdir(join(dir, '.github', 'workflows'), { recursive: true });
      await cp(join(REPO_ROOT, '.github', 'actionlint.yaml'), join(dir, '.github', 'actionlint.yaml'));
      await writeFile(
        join(dir, '.github', 'workflows', 'bad.yml'),
        // A broken expression on line 7.
        [
          'on: push',
          'permissions: {}',
          'jobs:',
          '  a:',
          '    runs-on: [self-hosted, gpu]',
          '    steps:',
          `      - run: echo $\{{ github.event.nope.bad( }}`,
          '',
        ].join('\n'),
      );
      const { code, out } = await lint(dir);
      expect(code).toBe(1);
      expect(out).toContain('.github/workflows/bad.yml:7:');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
