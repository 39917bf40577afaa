/**
 * The files of a commit, read without checking it out: `git show <ref>:<path>`
 * and `git ls-tree`. A FileTree, so `lock diff git:<ref>` and the
 * tests read a lock (its index and version files) at a commit with the same
 * code that reads a checkout. Works in a bare repository too.
 */
import { isAbsolute, join, posix, relative } from 'node:path';
import { ProjectError } from '../errors.ts';
import type { FileTree } from '../fs.ts';
import type { GitRunner } from './runner.ts';

/** git's answer for a path that the commit does not have (as opposed to a bad ref). */
const MISSING = /exists on disk, but not in|does not exist in|^fatal: path '.*' does not exist/m;

/**
 * Files of `ref` as a FileTree. A relative path is relative to the
 * runner's folder (inside a working tree), an absolute one must lie inside the
 * working tree; in a bare repository paths are relative to the root of the tree.
 */
export function treeSource(git: GitRunner, ref: string): FileTree {
  let where: Promise<{ top?: string; prefix: string }> | undefined;
  const locate = () => {
    where ??= (async () => {
      const top = await git.tryRun(['rev-parse', '--show-toplevel']);
      if (top.code !== 0 || !top.stdout.trim()) return { prefix: '' }; // bare: paths from the root
      return { top: top.stdout.trim(), prefix: (await git.run(['rev-parse', '--show-prefix'])).trim() };
    })();
    return where;
  };
  /** The path from the root of the tree, with `/`. */
  const full = async (path: string) => {
    const { top, prefix } = await locate();
    const rel = isAbsolute(path) ? relative(top ?? git.cwd, path) : join(prefix, path);
    return posix.normalize(rel.split('\\').join('/'));
  };
  const fail = (what: string, stderr: string) =>
    new ProjectError('NOT_FOUND', `cannot read git:${ref}:${what}: ${stderr.trim().split('\n')[0]}`, {
      subject: ref,
      hint: 'name a commit, branch or tag that git knows (fetch it first in a shallow clone)',
    });
  return {
    async read(path) {
      const p = await full(path);
      const r = await git.tryRun(['show', `${ref}:${p}`]);
      if (r.code === 0) return r.stdout;
      if (MISSING.test(r.stderr)) return undefined;
      throw fail(p, r.stderr);
    },
    async list(dir) {
      const d = (await full(dir)).replace(/\/+$/, '');
      const r = await git.tryRun(['ls-tree', '-r', '--full-tree', '--name-only', ref, '--', `${d}/`]);
      if (r.code !== 0) throw fail(`${d}/`, r.stderr);
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((p) => p.slice(d.length + 1))
        .sort();
    },
  };
}
