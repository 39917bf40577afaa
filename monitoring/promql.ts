/**
 * A small lexical reading of PromQL: enough to list the metric names an
 * expression selects, so that tests can hold every rule and dashboard query to
 * the metric contract (docs/contracts.md). Whether an expression parses is
 * promtool's job (see promtool.ts); this only looks at names.
 * Grammar: https://prometheus.io/docs/prometheus/latest/querying/basics/
 */

/** Keywords and operators that look like identifiers. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'atan2',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** Grafana's interval variables, replaced by a fixed duration so the query parses outside Grafana. */
const GRAFANA_DURATIONS =
  /\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}/g;

/** Replace Grafana's built-in interval variables by `5m` (label-value variables inside strings are valid PromQL). */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(GRAFANA_DURATIONS, '5m');
}

/** The metric names an expression selects, sorted, each once (functions, labels and keywords excluded). */
export function metricNames(expr: string): string[] {
  const stripped = substituteGrafanaVariables(expr)
    .replace(/#[^\n]*/g, ' ') // comments
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^{}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  const token = /(\d[\w.]*)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g;
  for (const m of stripped.matchAll(token)) {
    const name = m[2];
    if (!name || m[3] || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}
