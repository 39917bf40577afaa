/**
 * No function of the code is longer than 80 lines without a reason written
 * beside it (issue 24: a 375-line createApp and a 398-line clusterUp hid
 * their steps). A function counts from the line its declaration starts on
 * to the line of its closing brace; one that is longer is split into named
 * steps, or keeps its length with a one-line `// Long: <why>` comment
 * directly above it (or above the declaration that holds it, e.g. its
 * `export const`), for the few that read better whole (a manifest literal,
 * a linear table). Tests and test helpers (testing/) are not counted.
 *
 * The functions are found with a real parser (@swc/core, the one the test
 * runner compiles TypeScript with), not with patterns.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseSync } from '@swc/core';
import { CODE_FOLDERS, tsFiles } from '../../testing/import-graph.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const MAX_LINES = 80;

/**
 * Long functions allowed for a while, while other work splits them:
 * `<file>:<function>` → who is on it. Empty now: the limit holds everywhere.
 * An entry that is no longer over the limit fails the test, so that it is removed.
 */
const PENDING: Record<string, string> = {};

/** A function found in a file: where it starts, how long it is, whether a reason is written beside it. */
interface FoundFunction {
  name: string;
  /** 1-based line of its first line. */
  line: number;
  lines: number;
  /** A `// Long: <why>` comment sits directly above it (or above the declaration that holds it). */
  reasoned: boolean;
}

/** The kinds of swc node that are functions with a body of their own. */
const FUNCTION_TYPES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ClassMethod',
  'PrivateMethod',
  'Constructor',
  'MethodProperty',
  'GetterProperty',
  'SetterProperty',
]);

interface Span {
  start: number;
  end: number;
}
type Node = { type?: string; span?: Span } & Record<string, unknown>;

/**
 * Parsed behind this one-statement prefix, whose span says where byte 0 of
 * the file is: swc numbers positions from 1 and, in some versions, across
 * every file it parsed; and the module's own span starts at its first token,
 * after any leading comment.
 */
const PREFIX = '0;\n';
const LONG = /^\s*\/\/ Long: \S/;

/** The name a function is known by: its own, its variable's or property's, its class's method, else where it sits. */
function nameOf(node: Node, ancestors: Node[]): string {
  const id = (n: unknown) => {
    const k = n as { type?: string; value?: unknown; id?: { value?: unknown } } | undefined;
    if (k?.type === 'Identifier' || k?.type === 'StringLiteral') return String(k.value);
    if (k?.type === 'PrivateName') return `#${String(k.id?.value ?? k.value)}`;
    return undefined;
  };
  const own = id(node.identifier) ?? (node.type === 'Constructor' ? 'constructor' : id(node.key));
  const cls = ancestors.findLast((a) => a.type === 'ClassDeclaration' || a.type === 'ClassExpression');
  if (own && (node.type === 'ClassMethod' || node.type === 'PrivateMethod' || node.type === 'Constructor')) {
    return `${id(cls?.identifier) ?? '(class)'}.${own}`;
  }
  if (own) return own;
  // An anonymous function takes the name of the variable or property that holds it, unless another function is between.
  for (const a of [...ancestors].reverse()) {
    if (a.type && FUNCTION_TYPES.has(a.type))
      return `(anonymous in ${nameOf(a, ancestors.slice(0, ancestors.indexOf(a)))})`;
    if (a.type === 'VariableDeclarator') return id(a.id) ?? '(anonymous)';
    if (a.type === 'KeyValueProperty' || a.type === 'ClassProperty') return id(a.key) ?? '(anonymous)';
  }
  return '(anonymous)';
}

/** Every function of a TypeScript module, with its length in lines and whether a `// Long:` reason is beside it. */
function functionsOf(code: string, file = 'input.ts'): FoundFunction[] {
  const module = parseSync(`${PREFIX}${code}`, { syntax: 'typescript', target: 'es2022' });
  const base = (module.body[0] as unknown as Node).span?.start as number;
  // swc positions are UTF-8 byte offsets: lines are counted over the bytes.
  const bytes = Buffer.from(code, 'utf8');
  const lineStarts = [0];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) lineStarts.push(i + 1);
  const lineAt = (pos: number) => {
    const offset = pos - base - Buffer.byteLength(PREFIX);
    if (offset < 0 || offset > bytes.length) throw new Error(`${file}: position ${pos} outside the file`);
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const text = code.split('\n');
  const longAbove = (line: number) => line >= 2 && LONG.test(text[line - 2] ?? '');

  const out: FoundFunction[] = [];
  const visit = (value: unknown, ancestors: Node[]) => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v, ancestors);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const node = value as Node;
    if (node.type && FUNCTION_TYPES.has(node.type) && node.span) {
      const line = lineAt(node.span.start);
      // The statement of the module that holds it, when no other function is between: `export const x = f(() => ...)`.
      const top = ancestors.some((a) => a.type && FUNCTION_TYPES.has(a.type)) ? undefined : ancestors[1];
      out.push({
        name: nameOf(node, ancestors),
        line,
        lines: lineAt(node.span.end - 1) - line + 1,
        reasoned: longAbove(line) || (top?.span !== undefined && longAbove(lineAt(top.span.start))),
      });
    }
    const next = node.type ? [...ancestors, node] : ancestors;
    for (const [key, child] of Object.entries(node)) {
      if (key !== 'span' && typeof child === 'object') visit(child, next);
    }
  };
  visit(module, []);
  return out;
}

/** The functions over the limit without a reason: `<file>:<name>` → `line N, M lines`. */
function unreasoned(files: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of files) {
    for (const f of functionsOf(readFileSync(join(ROOT, file), 'utf8'), file)) {
      if (f.lines > MAX_LINES && !f.reasoned)
        out.set(`${file}:${f.name}`, `line ${f.line}, ${f.lines} lines`);
    }
  }
  return out;
}

const isTest = (f: string) => f.endsWith('.test.ts') || f.split('/').includes('testing');
const code = tsFiles(ROOT, [...CODE_FOLDERS, 'bench']).filter((f) => !isTest(f));

describe('function length', () => {
  const found = unreasoned(code);

  it(`no function is over ${MAX_LINES} lines without a "// Long: <why>" comment above it`, () => {
    const offenders = [...found]
      .filter(([key]) => !(key in PENDING))
      .map(
        ([key, where]) =>
          `${key} (${where}): split it into named steps, or say why not in a // Long: comment`,
      );
    expect(offenders).toEqual([]);
  });

  it('every PENDING allowance is still needed', () => {
    const stale = Object.keys(PENDING)
      .filter((key) => !found.has(key))
      .map((key) => `${key} is no longer over ${MAX_LINES} lines (or was renamed): remove it from PENDING`);
    expect(stale).toEqual([]);
  });

  it('reads the whole code', () => {
    expect(code).toContain('pipelines/verify/verify.ts');
    expect(code).toContain('bench/training/main.ts');
    expect(code.some((f) => isTest(f))).toBe(false);
  });

  it('the check can fail: a long function is found and named, a reason beside it lets it pass', () => {
    const body = Array.from({ length: MAX_LINES }, (_, i) => `  const v${i} = ${i}; // é → ${i}`).join('\n');
    const src = [
      '/* a leading comment, then multi-byte text: é → Δ */',
      '/** Doc. */',
      `export async function load(a: number) {\n${body}\n}`,
      '/** Doc. */',
      '// Long: one table, read top to bottom',
      `function table() {\n${body}\n}`,
      '// Long: the handlers, one literal',
      'export const handlers = {',
      `  run: () => {\n${body}\n  },`,
      `  stop() {\n${body}\n  },`,
      '};',
      `export const main = wrap(async () => {\n${body}\n});`,
      '// Long: not directly above',
      '',
      `class Server {\n  constructor() {\n${body}\n  }\n}`,
      'const short = () => 1;',
    ].join('\n');
    const lineOf = (text: string) => src.split('\n').findIndex((l) => l.includes(text)) + 1;
    const long = MAX_LINES + 2;
    expect(functionsOf(src).map((f) => [f.name, f.line, f.lines, f.reasoned])).toEqual([
      ['load', lineOf('function load'), long, false],
      ['table', lineOf('function table'), long, true],
      ['run', lineOf('run: () =>'), long, true],
      ['stop', lineOf('stop() {'), long, true],
      ['main', lineOf('const main'), long, false],
      ['Server.constructor', lineOf('constructor()'), long, false],
      ['short', lineOf('const short'), 1, false],
    ]);
    expect(functionsOf('const f = () => [0].map((x) => {\n\n  return x;\n});')).toEqual([
      { name: 'f', line: 1, lines: 4, reasoned: false },
      { name: '(anonymous in f)', line: 1, lines: 4, reasoned: false },
    ]);
    // What the first test reports for such a file.
    expect(
      functionsOf(src)
        .filter((f) => f.lines > MAX_LINES && !f.reasoned)
        .map((f) => f.name),
    ).toEqual(['load', 'main', 'Server.constructor']);
  });
});
