import { describe, expect, test } from '@jest/globals';
import { metricNames, substituteGrafanaVariables } from './promql.ts';

describe('metricNames', () => {
  test('lists selected metrics, not functions, labels, keywords or durations', () => {
    const expr = `(
      sum by (namespace, job) (rate(serving_http_requests_total{route!~"/metrics|up", code=~"5.."}[5m]))
      or 0 * sum without (instance) (serving_model_ready)
    ) == bool 0 and on (job) group_left (version) foo:bar:ratio offset 1d
    unless histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval]))) > 2e3 # up`;
    expect(metricNames(expr)).toEqual([
      'foo:bar:ratio',
      'serving_http_requests_total',
      'serving_model_ready',
      'x_bucket',
    ]);
  });

  test('{__name__="x"} names a metric too; a regex on __name__ names none', () => {
    expect(metricNames('rate({__name__="a_total", job="j"}[5m]) + {__name__=~"b_.*"}')).toEqual(['a_total']);
  });

  test('an expression the grammar cannot read is an error naming where', () => {
    expect(() => metricNames('sum(rate(x[5m])')).toThrow(/^PromQL does not parse at character \d+: /);
  });

  test('a label value or label name that looks like a metric is not one', () => {
    expect(metricNames('count by (process_cpu) (ALERTS{alertname="process_cpu_seconds_total"})')).toEqual([
      'ALERTS',
    ]);
  });
});

test('Grafana interval variables become 5m, label variables stay in their strings', () => {
  expect(
    substituteGrafanaVariables(`rate(x{job=~"$job"}[$__rate_interval]) + increase(y[\${__range}])`),
  ).toBe('rate(x{job=~"$job"}[5m]) + increase(y[5m])');
});
