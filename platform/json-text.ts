/**
 * JSON text a person edits (the lock, a version file, a history file): parsed
 * strictly, with errors that name `file:line:column`, and JSON pointers for
 * the fields of the messages.
 */
import { ProjectError } from './errors.ts';

/** A JSON pointer (RFC 6901) from path segments, as ajv's instancePath writes them. */
export function jsonPointer(segments: readonly string[]): string {
  return segments.map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** 1-based line and column of a character offset. */
export function lineColumnOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

interface DuplicateKey {
  path: string[];
  key: string;
  offset: number;
}

/**
 * Find the first object key that appears twice in one object. JSON.parse keeps
 * the last one silently, which would lose a hand-edited version entry without
 * a word; `text` must already be valid JSON.
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
  };
  const readString = (): string => {
    const start = i;
    i++;
    while (text.charAt(i) !== '"') i += text.charAt(i) === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  /** The entries of `{...}` or `[...]` (at its opening bracket): `entry(n)` reads each, up to the closing one. */
  const container = (close: string, entry: (n: number) => DuplicateKey | undefined) => {
    i++;
    skipSpace();
    if (text.charAt(i) === close) {
      i++;
      return undefined;
    }
    for (let n = 0; ; n++) {
      const dup = entry(n);
      if (dup) return dup;
      skipSpace();
      if (text.charAt(i++) !== ',') return undefined;
    }
  };
  const value = (path: string[]): DuplicateKey | undefined => {
    skipSpace();
    const c = text.charAt(i);
    if (c === '{') {
      const seen = new Set<string>();
      return container('}', () => {
        skipSpace();
        const offset = i;
        const key = readString();
        if (seen.has(key)) return { path, key, offset };
        seen.add(key);
        skipSpace();
        i++; // ':'
        return value([...path, key]);
      });
    }
    if (c === '[') return container(']', (n) => value([...path, String(n)]));
    if (c === '"') {
      readString();
      return undefined;
    }
    while (i < text.length && !',]} \t\n\r'.includes(text.charAt(i))) i++;
    return undefined;
  };
  return value([]);
}

/**
 * Parse JSON text strictly: a syntax error names `file:line:column`, and a key
 * repeated in one object (e.g. two version "3" entries) is refused instead of
 * silently keeping the last.
 */
export function parseJsonText(text: string, file: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const lc = /\(line (\d+) column (\d+)\)/.exec(message);
    const pos = /position (\d+)/.exec(message);
    const where = lc
      ? `${file}:${lc[1]}:${lc[2]}`
      : pos
        ? (({ line, column }) => `${file}:${line}:${column}`)(lineColumnOf(text, Number(pos[1])))
        : file;
    throw new ProjectError('INVALID', `${where}: not valid JSON (${message})`, {
      subject: file,
      hint: `fix the file by hand, or restore it with \`git checkout -- ${file}\``,
      cause: e,
    });
  }
  const dup = findDuplicateKey(text);
  if (dup) {
    const { line, column } = lineColumnOf(text, dup.offset);
    throw new ProjectError(
      'INVALID',
      `${file}:${line}:${column}: duplicate key "${dup.key}" in ${jsonPointer(dup.path) || '/'}`,
      { subject: file, hint: 'keep one entry per key: a version id or an environment appears once' },
    );
  }
  return value;
}
