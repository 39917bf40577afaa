/**
 * The static import graph of the project's TypeScript: every `import ... from`,
 * `export ... from` and `import('...')` with a literal specifier. Used by the
 * layering test to check that arrows point down and that a module's start-up
 * does not pull in packages it does not use.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SPECIFIER =
  /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export interface ImportEdge {
  /** Repository-relative path of the importing file. */
  from: string;
  /** Repository-relative path of a project file, or the package name of a bare specifier. */
  to: string;
  /** True for `import type` / `export type` (erased at run time). */
  typeOnly: boolean;
  /** True for `import('...')`: loaded when called, not at start-up. */
  dynamic: boolean;
}

/**
 * The folders of the project's code, bottom layer first (docs/contracts.md
 * "Layers"): what the layer test, the error-cause check and the comment-path
 * check read. `testing/` (test helpers) and `bench/` come on top.
 */
export const CODE_FOLDERS = [
  'platform',
  'model',
  'lock',
  'gitops',
  'training',
  'serving',
  'monitoring',
  'pipelines',
  'tools',
  'scripts',
] as const;

/** Every .ts file under `dirs` of `root`, repository-relative, without node_modules. */
export function tsFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

const packageOf = (spec: string) =>
  spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);

/** The imports of one file. */
export function importsOf(root: string, file: string): ImportEdge[] {
  const text = readFileSync(join(root, file), 'utf8');
  const edges: ImportEdge[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = (m[1] ?? m[2]) as string;
    if (spec.startsWith('node:')) continue;
    const typeOnly = /^\s*(import|export)\s+type\s/.test(m[0].replace(/^\n/, ''));
    const to = spec.startsWith('.')
      ? relative(root, normalize(join(root, dirname(file), spec)))
      : packageOf(spec);
    edges.push({ from: file, to, typeOnly, dynamic: m[2] !== undefined });
  }
  return edges;
}

/**
 * Every project file and package that loading `entry` loads: static run-time
 * imports (type-only imports are erased; `import('...')` loads on demand, later).
 */
export function runtimeClosure(root: string, entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith('.ts')) continue;
    for (const e of importsOf(root, file)) if (!e.typeOnly && !e.dynamic && !seen.has(e.to)) stack.push(e.to);
  }
  return seen;
}
