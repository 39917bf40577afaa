/**
 * The metric names a PromQL expression selects, read with Prometheus' own
 * grammar (@prometheus-io/lezer-promql, the parser of Prometheus' web UI), so
 * that tests can hold every rule and dashboard query to the metric contract
 * (docs/contracts.md). promtool (promtool.ts) still decides what Prometheus
 * itself accepts; an expression this grammar cannot read is an error here too.
 * Grammar: https://prometheus.io/docs/prometheus/latest/querying/basics/
 */
import { parser } from '@prometheus-io/lezer-promql';

/** Grafana's interval variables, replaced by a fixed duration so the query parses outside Grafana. */
const GRAFANA_DURATIONS =
  /\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}/g;

/** Replace Grafana's built-in interval variables by `5m` (label-value variables inside strings are valid PromQL). */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(GRAFANA_DURATIONS, '5m');
}

/** The metric names an expression selects, sorted, each once: `name{...}` and `{__name__="name"}`. */
export function metricNames(expr: string): string[] {
  const text = substituteGrafanaVariables(expr);
  const names = new Set<string>();
  const errors: number[] = [];
  parser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.add(text.slice(id.from, id.to));
      }
      // {__name__="x"}: the name as a label matcher (an exact match only names one metric).
      if (node.name === 'UnquotedLabelMatcher' || node.name === 'QuotedLabelMatcher') {
        const label = node.node.getChild('LabelName') ?? node.node.getChild('QuotedLabelName');
        const op = node.node.getChild('MatchOp');
        const value = node.node.getChild('StringLiteral');
        if (label && value && op && text.slice(op.from, op.to) === '=') {
          if (text.slice(label.from, label.to).replace(/"/g, '') === '__name__') {
            names.add(JSON.parse(text.slice(value.from, value.to).replace(/^'|'$/g, '"')) as string);
          }
        }
      }
    },
  });
  if (errors.length > 0) {
    const at = errors[0] as number;
    throw new Error(
      `PromQL does not parse at character ${at + 1}: ${JSON.stringify(text.slice(Math.max(0, at - 20), at + 20))}`,
    );
  }
  return [...names].sort();
}
