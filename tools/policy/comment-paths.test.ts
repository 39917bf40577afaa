/**
 * Comments that name a file of this repository name one that exists
 * (issue 24: after the layout move, 1,127 paths written into comments had
 * to follow, and stale ones misled readers). Every repository path in a
 * comment of the code must be a file or folder here (a module may be named
 * without its `.ts`; a file named relative to the comment's own file is
 * resolved from there); a few name files of other repositories or of run
 * time, listed below with the reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CODE_FOLDERS, tsFiles } from '../../testing/import-graph.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Paths in comments that are not ours to have, and why. */
const ELSEWHERE: Record<string, string> = {
  'manifests/crds': "Argo CD's and Argo Rollouts' own repositories",
  'manifests/crds/kustomization.yaml': "Argo CD's own repository",
  'manifests/install.yaml': "Argo CD's own repository",
  'data/feedback': 'an output folder feedback-export makes at run time',
  'data/shapes.json': 'the example pointer of docs/data.md',
  'lib/napi-v8': "tfjs-node's own package folder (node-pre-gyp's lib/napi-v{N})",
  'lib/napi-v8/tfjs_binding.node': "tfjs-node's own package folder",
};

// lib/ is gone (issue 24): a path under it is stale by definition.
const TOP = [
  ...CODE_FOLDERS,
  'testing',
  'bench',
  'docs',
  'manifests',
  'environments',
  '.github',
  'data',
  'lib',
];
const PATH = new RegExp(
  `(?<![\\w@./-])((?:${TOP.map((t) => t.replace('.', '\\.')).join('|')})/[\\w./-]*[\\w/])(?![\\w<*{/-])`,
  'g',
);
/**
 * The comments of TypeScript source, skipping string and template literals
 * (a `'x/*.sh'` string opens no comment). Regular-expression literals are
 * not told apart; none of ours holds a quote that would throw this off.
 */
function commentsOf(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      out.push(text.slice(i, end < 0 ? text.length : end));
      i = end < 0 ? text.length : end;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      out.push(text.slice(i, end < 0 ? text.length : end + 2));
      i = end < 0 ? text.length : end + 1;
    } else if (c === "'" || c === '"' || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
    }
  }
  return out;
}

/** A file named relative to the comment's own file: `./` or `../`, then a name with an extension. */
const RELATIVE = /(?<![\w@./-])(\.\.?\/[\w./-]*\.[a-z]+)(?![\w/-])/g;

/**
 * The repository paths that the comments of `text` name; with `file` (its
 * repository path), also the files they name relative to it, resolved.
 */
function pathsInComments(text: string, file?: string): string[] {
  const out = new Set<string>();
  for (const comment of commentsOf(text)) {
    for (const m of comment.matchAll(PATH)) out.add((m[1] as string).replace(/[./]+$/, ''));
    if (file === undefined) continue;
    for (const m of comment.matchAll(RELATIVE)) out.add(posix.join(dirname(file), m[1] as string));
  }
  return [...out];
}

const exists = (p: string) => existsSync(join(ROOT, p)) || existsSync(join(ROOT, `${p}.ts`));

describe('paths named in comments', () => {
  it('exist', () => {
    const files = tsFiles(ROOT, [...CODE_FOLDERS, 'testing', 'bench']);
    expect(files.length).toBeGreaterThan(300);
    const missing = files.flatMap((f) =>
      pathsInComments(readFileSync(join(ROOT, f), 'utf8'), f)
        .filter((p) => !exists(p) && !(p in ELSEWHERE))
        .map((p) => `${f}: ${p}`),
    );
    expect(missing).toEqual([]);
  });

  it('the check can fail: a stale path is found, a pattern or a quoted string is not a path', () => {
    const text = [
      '/** Reads lib/lock/io.ts and platform/fs (a module). */',
      '// writes bench/results/<name>.md, see model/drift/reference.ts.',
      "const s = 'serving/nothing-here.ts /* in a string */'; // a string is no comment",
    ].join('\n');
    expect(pathsInComments(text)).toEqual(['lib/lock/io.ts', 'platform/fs', 'model/drift/reference.ts']);
    expect(pathsInComments('/* see lock/nowhere.ts */').filter((p) => !exists(p))).toEqual([
      'lock/nowhere.ts',
    ]);
    // Relative to the file: tools/tfjs-native has no layout.ts (model/native has).
    const relative = '/** Layout: ./layout.ts and ../../model/native/wheel.ts; a `./path` pattern. */';
    expect(pathsInComments(relative, 'tools/tfjs-native/install.ts').sort()).toEqual([
      'model/native/wheel.ts',
      'tools/tfjs-native/layout.ts',
    ]);
    expect(pathsInComments(relative, 'tools/tfjs-native/install.ts').filter((p) => !exists(p))).toEqual([
      'tools/tfjs-native/layout.ts',
    ]);
  });
});
