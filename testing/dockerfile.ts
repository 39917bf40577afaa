/**
 * Test helper: what a Dockerfile puts in an image, derived without a container
 * engine (this machine has none that can pull base images: docs/serving.md
 * "The image"). It reads the Dockerfile's stages (FROM, WORKDIR, COPY, ENV,
 * CMD, USER) and the build context's ignore file, and lists, for a stage, the
 * image path of every file its COPY lines take from the build context.
 *
 * Semantics followed:
 * - Dockerfile: continuation lines with `\`, comments, `COPY [--from=…] src… dest`
 *   (a source folder's contents go into dest; dest relative to WORKDIR; several
 *   sources or a trailing `/` make dest a folder), `ENV k=v …`, exec-form `CMD`.
 *   https://docs.docker.com/reference/dockerfile/
 * - ignore file: `<Dockerfile>.dockerignore` next to the Dockerfile wins over the
 *   context's `.dockerignore` (BuildKit); patterns are cleaned paths relative to
 *   the context, `*` `?` `[…]` within a segment, `**` any number of segments, `!`
 *   re-includes, the last pattern that matches a path or one of its parent
 *   folders decides (moby/patternmatcher).
 *   https://docs.docker.com/build/concepts/context/#dockerignore-files
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

export interface DockerInstruction {
  /** Upper-case keyword (FROM, COPY, ...). */
  keyword: string;
  /** The rest of the line, continuations joined. */
  args: string;
  line: number;
}

export interface DockerStage {
  /** `AS name`, or the stage's index as a string. */
  name: string;
  base: string;
  instructions: DockerInstruction[];
}

/** The stages of a Dockerfile, in order. */
export function parseDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] ?? '';
    if (/^\s*#/.test(line) || !line.trim()) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? '';
      if (/^\s*#/.test(next)) continue; // comment lines inside a continuation are dropped
      line = `${line.replace(/\\\s*$/, ' ')}${next}`;
    }
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const keyword = (m[1] as string).toUpperCase();
    const args = (m[2] as string).trim().replace(/\s+/g, ' ');
    if (keyword === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ name: f?.[2] ?? String(stages.length), base: f?.[1] ?? args, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ keyword, args, line: start + 1 });
  }
  return stages;
}

/** Split shell-form words, or parse an exec-form JSON array. */
function words(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(' ').filter(Boolean);
}

/** `ENV a=b c="d e"` (and the old `ENV a b`) as a map. */
export function envOf(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((x) => x.keyword === 'ENV')) {
    if (!ins.args.includes('=')) {
      const [k, ...v] = ins.args.split(' ');
      env[k as string] = v.join(' ');
      continue;
    }
    for (const m of ins.args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      const raw = m[2] as string;
      env[m[1] as string] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    }
  }
  return env;
}

/** The last CMD of a stage (exec form), and its final WORKDIR and USER. */
export function runtimeOf(stage: DockerStage): { cmd: string[]; workdir: string; user?: string } {
  let workdir = '/';
  let user: string | undefined;
  let cmd: string[] = [];
  for (const ins of stage.instructions) {
    if (ins.keyword === 'WORKDIR') workdir = posix.resolve(workdir, ins.args);
    if (ins.keyword === 'USER') user = ins.args;
    if (ins.keyword === 'CMD') cmd = words(ins.args);
  }
  return { cmd, workdir, ...(user ? { user } : {}) };
}

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

/** One file a COPY instruction puts in the image. */
export interface CopiedFile {
  /** Absolute path in the image. */
  image: string;
  /** Path in the build context (POSIX, relative). */
  context: string;
}

/**
 * What the COPY lines of `stage` that read the build context (no `--from`)
 * put in the image, given the context's kept files. A source that matches no
 * kept file is an error, as in a real build.
 */
export function copiedFromContext(stage: DockerStage, kept: string[]): CopiedFile[] {
  const out: CopiedFile[] = [];
  let workdir = '/';
  for (const ins of stage.instructions) {
    if (ins.keyword === 'WORKDIR') workdir = posix.resolve(workdir, ins.args);
    if (ins.keyword !== 'COPY' && ins.keyword !== 'ADD') continue;
    const parts = words(ins.args);
    if (parts.some((p) => p.startsWith('--from='))) continue;
    const args = parts.filter((p) => !p.startsWith('--'));
    const dest = args.pop() as string;
    const destAbs = posix.resolve(workdir, dest);
    const intoFolder = args.length > 1 || dest.endsWith('/');
    for (const src of args) {
      const clean = posix
        .normalize(src)
        .replace(/^\.?\/+/, '')
        .replace(/\/+$/, '');
      const re = new RegExp(`^${clean.split('/').map(segmentRegex).join('/')}$`);
      const direct = kept.filter((f) => re.test(f));
      const inFolder = kept.filter(
        (f) => !direct.includes(f) && f.split('/').some((_, i, a) => re.test(a.slice(0, i + 1).join('/'))),
      );
      if (direct.length === 0 && inFolder.length === 0) {
        throw new Error(
          `Dockerfile line ${ins.line}: COPY ${src}: no such file in the build context (or it is ignored)`,
        );
      }
      for (const f of direct) {
        const target = intoFolder || direct.length > 1 ? posix.join(destAbs, posix.basename(f)) : destAbs;
        out.push({ image: target, context: f });
      }
      for (const f of inFolder) {
        const base = f.split('/').findIndex((_, i, a) => re.test(a.slice(0, i + 1).join('/')));
        out.push({
          image: posix.join(
            destAbs,
            f
              .split('/')
              .slice(base + 1)
              .join('/'),
          ),
          context: f,
        });
      }
    }
  }
  return out;
}

/** Read a Dockerfile, its ignore file and context: the stages and the kept context files. */
export function loadBuild(
  dockerfile: string,
  context: string,
): { stages: DockerStage[]; kept: string[]; ignoreFile?: string } {
  const stages = parseDockerfile(readFileSync(dockerfile, 'utf8'));
  const ignoreFile = ignoreFileOf(dockerfile, context);
  const patterns = ignoreFile ? parseIgnore(readFileSync(ignoreFile, 'utf8')) : [];
  return { stages, kept: contextFiles(context, patterns), ...(ignoreFile ? { ignoreFile } : {}) };
}
