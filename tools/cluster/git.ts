/** The few git look-ups the local cluster needs, through zx's `$` (no shell). */
import { $ } from 'zx';
import { ProjectError } from '../../platform/errors.ts';

/**
 * The git directory that holds a checkout's objects and every branch (for a
 * linked worktree, the main repository's `.git`; for a bare repository,
 * itself): what the Git server serves.
 */
export async function gitCommonDir(dir: string): Promise<string> {
  const r = await $({
    cwd: dir,
    quiet: true,
    nothrow: true,
  })`git rev-parse --path-format=absolute --git-common-dir`;
  if (r.exitCode !== 0) {
    throw new ProjectError('NOT_FOUND', `${dir} is not inside a git repository: ${r.stderr.trim()}`, {
      subject: dir,
      hint: 'pass --repo-dir <a git checkout or bare repository>',
    });
  }
  return r.stdout.trim();
}
