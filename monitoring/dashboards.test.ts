import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import {
  contractSeriesNames,
  parseContractMetrics,
  unknownMetrics,
} from '../testing/monitoring/metric-contract.ts';
import { promtoolInstalled } from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { allPanels, dashboardExpressions, loadDashboards, parseDashboard } from './dashboards.ts';
import { metricNames } from './promql.ts';
import { checkExpressions } from './promtool.ts';
import { loadRuleFiles, recordedNames } from './rules.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DASHBOARDS = join(ROOT, 'monitoring', 'dashboards');
/** Grafana's data source variable, as every panel must name it. */
const DATASOURCE_VAR = ['$', '{datasource}'].join('');
const promtool = promtoolInstalled();
const withPromtool = needs(promtool).test;

describe('Grafana dashboards', () => {
  test('system and model dashboards exist with the panels the issue asks for', async () => {
    const files = await loadDashboards(DASHBOARDS);
    const byName = new Map(files.map((f) => [f.path.split('/').pop(), f]));
    const text = (name: string) => JSON.stringify(byName.get(name)?.dashboard ?? {});
    for (const metric of [
      'serving_http_requests_total',
      'serving_http_request_errors',
      'histogram_quantile',
      'saturation',
    ]) {
      expect(text('system.json')).toContain(metric);
    }
    for (const metric of [
      'serving_predictions_total',
      'serving_prediction_confidence',
      'serving_drift_score',
      'serving_model_info',
    ]) {
      expect(text('model.json')).toContain(metric);
    }
  });

  test('every query selects only contract metrics, recorded names or standard metrics', async () => {
    const allowed = contractSeriesNames(
      parseContractMetrics(await readFile(join(ROOT, 'docs', 'contracts.md'), 'utf8')),
    );
    for (const name of recordedNames(await loadRuleFiles(join(ROOT, 'monitoring', 'rules'))))
      allowed.add(name);
    const problems: string[] = [];
    for (const file of await loadDashboards(DASHBOARDS)) {
      for (const { name, expr } of dashboardExpressions(file)) {
        const names = metricNames(expr);
        if (names.length === 0) problems.push(`${name}: selects no metric`);
        for (const n of unknownMetrics(names, allowed)) problems.push(`${name}: unknown metric ${n}`);
      }
    }
    expect(problems).toEqual([]);
  });

  withPromtool('every query parses as PromQL (promtool)', async () => {
    const exprs = (await loadDashboards(DASHBOARDS)).flatMap(dashboardExpressions);
    expect(exprs.length).toBeGreaterThan(20);
    expect(await checkExpressions(promtool.path, exprs)).toEqual([]);
    // The check itself can fail: a broken query is reported by its panel.
    const broken = await checkExpressions(promtool.path, [
      { name: 'panel "x" target A', expr: 'sum by (le (up' },
    ]);
    expect(broken.map((b) => b.name)).toEqual(['panel "x" target A']);
  });

  test('every panel has a datasource and fits the 24-column grid', async () => {
    for (const file of await loadDashboards(DASHBOARDS)) {
      for (const panel of allPanels(file.dashboard)) {
        const { x, w } = panel.gridPos as { x: number; w: number };
        expect(x + w).toBeLessThanOrEqual(24);
        if (panel.type !== 'row')
          expect(panel.datasource).toEqual({ type: 'prometheus', uid: DATASOURCE_VAR });
      }
    }
  });

  test('a dashboard with a duplicate panel id is refused, naming the file and panel', () => {
    const panel = {
      id: 1,
      type: 'stat',
      title: 'A',
      gridPos: { x: 0, y: 0, w: 6, h: 4 },
      targets: [{ refId: 'A', expr: 'up' }],
    };
    const text = JSON.stringify({
      uid: 'u',
      title: 't',
      schemaVersion: 39,
      panels: [panel, { ...panel, title: 'B' }],
    });
    expect(() => parseDashboard('d.json', text)).toThrow('d.json: panel id 1 ("B") is used twice');
  });
});
