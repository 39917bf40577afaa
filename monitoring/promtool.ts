/**
 * Thin wrappers over promtool (https://prometheus.io/docs/prometheus/latest/command-line/promtool/):
 * `check rules`, `test rules`, and a check that PromQL expressions parse, done
 * offline by writing them as recording rules into a temporary rule file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { run } from '../platform/shell.ts';
import { substituteGrafanaVariables } from './promql.ts';

export interface PromtoolResult {
  ok: boolean;
  /** stdout and stderr together, as promtool printed them. */
  output: string;
}

/** Run promtool with `args`; a non-zero exit is a result with ok=false, not a throw. */
export async function runPromtool(promtool: string, args: string[], cwd?: string): Promise<PromtoolResult> {
  const r = await run(promtool, args, { ...(cwd ? { cwd } : {}), nothrow: true, timeoutMs: 120_000 });
  return { ok: r.code === 0, output: `${r.stdout}${r.stderr}` };
}

/** `promtool check rules <files>`: syntax, PromQL and templates of rule files. */
export const checkRules = (promtool: string, files: string[]) =>
  runPromtool(promtool, ['check', 'rules', ...files]);

/** `promtool test rules <files>`: the unit tests of monitoring/tests/*.yaml. */
export const testRules = (promtool: string, files: string[]) =>
  runPromtool(promtool, ['test', 'rules', ...files]);

export interface NamedExpression {
  /** Where the expression comes from, e.g. `system.json: panel "Errors" A`. */
  name: string;
  expr: string;
}

/**
 * Check that each expression parses as PromQL (Grafana interval variables
 * replaced by 5m). Returns the names of the expressions that do not, with
 * promtool's message; empty when all parse.
 */
export async function checkExpressions(
  promtool: string,
  exprs: NamedExpression[],
): Promise<{ name: string; output: string }[]> {
  const dir = await mkdtemp(join(tmpdir(), 'promql-check-'));
  try {
    const failures: { name: string; output: string }[] = [];
    // One file per expression, checked in one promtool call: a failure names its file.
    const files = await Promise.all(
      exprs.map(async (e, i) => {
        const file = join(dir, `expr-${i}.yaml`);
        const doc = {
          groups: [
            {
              name: 'check',
              rules: [{ record: `check:expr:${i}`, expr: substituteGrafanaVariables(e.expr) }],
            },
          ],
        };
        await writeFile(file, stringify(doc));
        return file;
      }),
    );
    if (files.length === 0) return failures;
    const result = await checkRules(promtool, files);
    if (result.ok) return failures;
    exprs.forEach((e, i) => {
      const file = files[i]!;
      const section = result.output.split(/\n(?=Checking )/).find((s) => s.startsWith(`Checking ${file}`));
      if (section && !section.includes('SUCCESS')) failures.push({ name: e.name, output: section.trim() });
    });
    if (failures.length === 0) failures.push({ name: '(promtool)', output: result.output });
    return failures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
