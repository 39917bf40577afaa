/**
 * Relative links of the repository's documentation: every link in a
 * Markdown file, and every repository path named in a comment of a
 * workflow, must point to a file or folder that exists, and a `#anchor` into
 * a Markdown file must be one of its headings. Markdown is parsed with
 * markdown-it (CommonMark: code spans and fenced blocks hold no links,
 * reference-style links resolve) and headings get the ids GitHub gives them
 * (github-slugger: lowercase, punctuation dropped, spaces to `-`, `-1`, `-2`
 * for repeats).
 * @see https://spec.commonmark.org/0.31.2/#links
 * @see https://github.com/Flet/github-slugger
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import GithubSlugger from 'github-slugger';
import MarkdownIt, { type Token } from 'markdown-it';

const md = MarkdownIt({ html: true, linkify: false });

/** A link as written: where (1-based line of its block) and its target. */
export interface Link {
  line: number;
  target: string;
}

function inlineText(token: Token): string {
  return (token.children ?? [])
    .filter((c) => c.type === 'text' || c.type === 'code_inline')
    .map((c) => c.content)
    .join('');
}

/**
 * The links of a Markdown text: `[text](target)`, `![alt](src)` and
 * reference-style links, in order, each with the line that holds it (the
 * line of its paragraph where the target is not written there, e.g. a
 * reference).
 */
export function markdownLinks(text: string): Link[] {
  const lines = text.split('\n');
  const out: Link[] = [];
  for (const block of md.parse(text, {})) {
    if (block.type !== 'inline') continue;
    const [start, end] = block.map ?? [0, 1];
    let cursor = start;
    for (const t of block.children ?? []) {
      const attr = t.type === 'link_open' ? t.attrGet('href') : t.type === 'image' ? t.attrGet('src') : null;
      if (attr === null) continue;
      const target = String(attr);
      const written = [target, decode(target)];
      for (let i = cursor; i < end; i++) {
        if (written.some((w) => lines[i]?.includes(w))) {
          cursor = i;
          break;
        }
      }
      out.push({ line: cursor + 1, target });
    }
  }
  return out;
}

/** The ids a Markdown file's headings get on GitHub, and the `id`/`name` of HTML anchors in it. */
export function markdownAnchors(text: string): Set<string> {
  const slugger = new GithubSlugger();
  const out = new Set<string>();
  const tokens = md.parse(text, {});
  tokens.forEach((t, i) => {
    const next = tokens[i + 1];
    if (t.type === 'heading_open' && next?.type === 'inline') out.add(slugger.slug(inlineText(next)));
  });
  for (const m of text.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) out.add(m[1] as string);
  return out;
}

/** The top folders and files whose paths a workflow comment may name. */
const COMMENT_ROOTS = [
  'docs',
  'manifests',
  'environments',
  'scripts',
  'platform',
  'model',
  'lock',
  'gitops',
  'pipelines',
  'training',
  'serving',
  'monitoring',
  'tools',
  'testing',
  'bench',
  '\\.github',
];
const COMMENT_PATH = new RegExp(
  `(?<![\\w@./$~-])((?:(?:${COMMENT_ROOTS.join('|')})/[\\w./-]*[\\w/]|[A-Z][A-Z_-]*\\.md)(?:#[\\w-]+)?)(?![\\w<*{/-])`,
  'g',
);

/**
 * The repository paths (with an optional `#anchor`) that the comments of a
 * YAML file name: the text after a `#` that starts a line or follows a space.
 */
export function commentLinks(yamlText: string): Link[] {
  const out: Link[] = [];
  yamlText.split('\n').forEach((text, i) => {
    const start = text.search(/(^|\s)#/);
    if (start < 0) return;
    for (const m of text.slice(start).matchAll(COMMENT_PATH)) {
      out.push({ line: i + 1, target: (m[1] as string).replace(/\.$/, '') });
    }
  });
  return out;
}

const isExternal = (target: string): boolean =>
  /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * What is wrong with `link` of the file `from` (relative to `root`), or
 * undefined when it points to something that exists. `pathsFromRoot`: the
 * target is a repository path (workflow comments), not relative to `from`.
 */
export function linkProblem(
  root: string,
  from: string,
  link: Link,
  anchorsOf: (file: string) => Set<string>,
  pathsFromRoot = false,
): string | undefined {
  const { target } = link;
  if (isExternal(target)) return undefined;
  const hash = target.indexOf('#');
  const pathPart = decode(hash < 0 ? target : target.slice(0, hash));
  const anchor = hash < 0 ? undefined : decode(target.slice(hash + 1));
  const base = pathsFromRoot ? root : dirname(join(root, from));
  const file = pathPart === '' ? join(root, from) : normalize(join(base, pathPart.split('?')[0] as string));
  const rel = relative(root, file).split(sep).join('/');
  const where = `${from}:${link.line}: ${target}`;
  if (rel.startsWith('..')) return `${where}: points outside the repository`;
  if (!existsSync(file)) return `${where}: ${rel} does not exist`;
  if (anchor === undefined || anchor === '' || !rel.endsWith('.md') || statSync(file).isDirectory()) {
    return undefined;
  }
  return anchorsOf(file).has(anchor) ? undefined : `${where}: ${rel} has no heading #${anchor}`;
}

/**
 * Every broken link of `markdownFiles` and of the comments of
 * `workflowFiles` (paths relative to `root`), one line each:
 * `<file>:<line>: <target>: <why>`.
 */
export function brokenLinks(root: string, markdownFiles: string[], workflowFiles: string[]): string[] {
  const cache = new Map<string, Set<string>>();
  const anchorsOf = (file: string): Set<string> => {
    let anchors = cache.get(file);
    if (!anchors) {
      anchors = markdownAnchors(readFileSync(file, 'utf8'));
      cache.set(file, anchors);
    }
    return anchors;
  };
  const out: string[] = [];
  for (const f of markdownFiles) {
    for (const link of markdownLinks(readFileSync(join(root, f), 'utf8'))) {
      const problem = linkProblem(root, f, link, anchorsOf);
      if (problem) out.push(problem);
    }
  }
  for (const f of workflowFiles) {
    for (const link of commentLinks(readFileSync(join(root, f), 'utf8'))) {
      const problem = linkProblem(root, f, link, anchorsOf, true);
      if (problem) out.push(problem);
    }
  }
  return out;
}
