/**
 * What a Dockerfile's build reads, derived without a container
 * engine: the build context's ignore file and the files it keeps
 * (./images.ts keys its builds by their digest).
 *
 * Semantics followed:
 * - ignore file: `<Dockerfile>.dockerignore` next to the Dockerfile wins over the
 *   context's `.dockerignore` (BuildKit); patterns are cleaned paths relative to
 *   the context, `*` `?` `[…]` within a segment, `**` any number of segments, `!`
 *   re-includes, the last pattern that matches a path or one of its parent
 *   folders decides (moby/patternmatcher).
 *   https://docs.docker.com/build/concepts/context/#dockerignore-files
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

interface IgnorePattern {
  re: RegExp;
  /** True for a plain pattern (it excludes), false for a `!` one (it re-includes). */
  excludes: boolean;
  /** The cleaned pattern text (for the prune check). */
  text: string;
}

function segmentRegex(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i] as string;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i);
      out += end > i ? seg.slice(i, end + 1).replace(/^\[!/, '[^') : '\\[';
      i = Math.max(end, i);
    } else if (c === '\\' && i + 1 < seg.length) out += `\\${seg[++i]}`;
    else out += c.replace(/[.+^${}()|]/g, '\\$&');
  }
  return out;
}

/** Parse ignore-file text into patterns (comments and blank lines dropped). */
export function parseIgnore(text: string): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    if (negated) line = line.slice(1).trim();
    const cleaned = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    const parts = cleaned.split('/');
    let re = '';
    parts.forEach((p, i) => {
      if (p === '**') re += i === parts.length - 1 ? '.*' : '(?:.*/)?';
      else re += segmentRegex(p) + (i < parts.length - 1 ? '/' : '');
    });
    out.push({ re: new RegExp(`^${re}$`), excludes: !negated, text: cleaned });
  }
  return out;
}

/** True when the build context keeps `path` (POSIX, relative to the context). */
export function contextKeeps(patterns: IgnorePattern[], path: string): boolean {
  const parents: string[] = [];
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  let excluded = false;
  for (const p of patterns) {
    if (parents.some((q) => p.re.test(q))) excluded = p.excludes;
  }
  return !excluded;
}

/** The ignore file BuildKit uses for `dockerfile` built with `context`. */
export function ignoreFileOf(dockerfile: string, context: string): string | undefined {
  const own = `${dockerfile}.dockerignore`;
  if (existsSync(own)) return own;
  const shared = join(context, '.dockerignore');
  return existsSync(shared) ? shared : undefined;
}

/** Every file of the build context that the ignore patterns keep, POSIX paths relative to `context`. */
export function contextFiles(context: string, patterns: IgnorePattern[]): string[] {
  const out: string[] = [];
  // A folder can be skipped when it is excluded and no re-including pattern could reach inside it.
  const reincludes = patterns.filter((p) => !p.excludes);
  const walk = (rel: string) => {
    for (const e of readdirSync(join(context, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        const reachable = reincludes.some(
          (p) => p.text.startsWith(`${path}/`) || /[*?[]/.test(p.text.split('/')[0] ?? ''),
        );
        if (!contextKeeps(patterns, path) && !reachable) continue;
        walk(path);
      } else if (contextKeeps(patterns, path)) out.push(path);
    }
  };
  walk('');
  return out.sort();
}

/** The ignore file of a Dockerfile and the context files it keeps. */
export function loadBuild(dockerfile: string, context: string): { kept: string[]; ignoreFile?: string } {
  const ignoreFile = ignoreFileOf(dockerfile, context);
  const patterns = ignoreFile ? parseIgnore(readFileSync(ignoreFile, 'utf8')) : [];
  return { kept: contextFiles(context, patterns), ...(ignoreFile ? { ignoreFile } : {}) };
}
