/**
 * monitoring/: Prometheus rules and their promtool tests, Grafana dashboards,
 * and the generator of manifests/monitoring/. This is its public API.
 */
export * from './dashboards.ts';
export * from './generate.ts';
export * from './promql.ts';
export * from './promtool.ts';
export * from './rules.ts';
