import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { listYamlFiles, loadRuleFiles } from '../../monitoring/rules.ts';
import { needs } from '../services.ts';
import {
  prometheusConfig,
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from './prometheus.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const prometheus = prometheusInstalled();
const { describe } = needs(prometheus);

describe('a real Prometheus scraping itself', () => {
  let prom: RunningPrometheus;
  beforeAll(async () => {
    prom = await startPrometheus({
      binary: prometheus.path,
      selfScrape: true,
      ruleFiles: await listYamlFiles(join(ROOT, 'monitoring', 'rules')),
    });
  });
  afterAll(async () => {
    await prom?.stop();
  });

  test('reads up == 1 of its own target back through /api/v1/query', async () => {
    const [sample] = await prom.waitFor('up{job="prometheus"}');
    expect(sample!.metric).toMatchObject({ job: 'prometheus', instance: `127.0.0.1:${prom.port}` });
    expect(sample!.value[1]).toBe('1');
  });

  test('loads every rule group of monitoring/rules', async () => {
    const res = await fetch(`${prom.url}/api/v1/rules`);
    const body = (await res.json()) as { data: { groups: { name: string; rules: unknown[] }[] } };
    const files = await loadRuleFiles(join(ROOT, 'monitoring', 'rules'));
    const groups = files.flatMap((f) => f.groups.map((g) => g.name)).sort();
    expect(groups).toEqual(expect.arrayContaining(['model-drift.alerts', 'serving-slo.rules']));
    expect(body.data.groups.map((g) => g.name).sort()).toEqual(groups);
  });

  test('a query that does not parse is an error naming the query', async () => {
    await expect(prom.query('sum by (')).rejects.toThrow(
      /Prometheus query sum by \( on \S+ failed: .*parse error/,
    );
  });
});

test('a non-loopback scrape target is refused', () => {
  expect(() =>
    prometheusConfig({ targets: [{ job: 'x', address: '10.0.0.1:80' }] }, '127.0.0.1:9090'),
  ).toThrow('scrape target 10.0.0.1:80 of job x is not a loopback address');
});

test('the configured intervals are the ones written, and a bad one is refused', () => {
  const config = prometheusConfig({ scrapeIntervalMs: 500, evaluationIntervalMs: 2000 }, '127.0.0.1:9090');
  expect(config).toContain('scrape_interval: 500ms');
  expect(config).toContain('scrape_timeout: 500ms');
  expect(config).toContain('evaluation_interval: 2000ms');
  expect(() => prometheusConfig({ scrapeIntervalMs: 0.5 }, '127.0.0.1:9090')).toThrow(
    'scrapeIntervalMs 0.5 is not a whole number of milliseconds >= 1',
  );
});
