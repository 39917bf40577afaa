/**
 * Test helper: the metric contract between serving/ and monitoring/, the table of
 * docs/contracts.md ("Metrics"). Rules and dashboards may select only those
 * metrics (with a histogram's `_bucket`, `_sum`, `_count` series), names
 * recorded by our recording rules, and standard metrics that every setup has.
 */
import { ProjectError } from '../../platform/index.ts';

export interface ContractMetric {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
}

/**
 * Standard metrics outside the contract: Prometheus' own `up` and `ALERTS`,
 * prom-client's default process and Node.js metrics, kube-state-metrics and
 * cAdvisor metrics.
 */
export const STANDARD_METRIC = /^(up|ALERTS|ALERTS_FOR_STATE|(process|nodejs|kube|container)_[a-z0-9_]+)$/;

/** Read the metric table rows (`| \`name\` | type ... | labels |`) of docs/contracts.md. */
export function parseContractMetrics(markdown: string, path = 'docs/contracts.md'): ContractMetric[] {
  const metrics: ContractMetric[] = [];
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(counter|gauge|histogram|summary)\b/.exec(line);
    if (m) metrics.push({ name: m[1]!, type: m[2] as ContractMetric['type'] });
  }
  if (metrics.length === 0) {
    throw new ProjectError('INVALID', `${path} has no metric table rows`, {
      subject: path,
      hint: 'keep the "Metrics" table: | `name` | type | labels |',
    });
  }
  return metrics;
}

/** Every series name the contract allows: histograms and summaries expand to their component series. */
export function contractSeriesNames(metrics: ContractMetric[]): Set<string> {
  const names = new Set<string>();
  for (const { name, type } of metrics) {
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s);
    else names.add(name);
  }
  return names;
}

/** The names in `used` that are neither in `allowed` nor standard, sorted. */
export function unknownMetrics(used: Iterable<string>, allowed: Set<string>): string[] {
  return [...new Set(used)].filter((n) => !allowed.has(n) && !STANDARD_METRIC.test(n)).sort();
}
