import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { main } from '../scripts/generate-monitoring.ts';
import { GENERATED_FILES, generateMonitoringManifests, staleGenerated } from './generate.ts';
import { loadRuleFiles } from './rules.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const options = {
  rulesDir: join(ROOT, 'monitoring', 'rules'),
  dashboardsDir: join(ROOT, 'monitoring', 'dashboards'),
};
const temps: string[] = [];
afterAll(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

describe('manifests/monitoring generation', () => {
  test('the committed files equal a fresh generation (run `npm run monitoring:generate`)', async () => {
    const files = await generateMonitoringManifests(options);
    expect(files.map((f) => f.name)).toEqual([...GENERATED_FILES]);
    for (const f of files) {
      expect({
        file: f.name,
        content: await readFile(join(ROOT, 'manifests', 'monitoring', f.name), 'utf8'),
      }).toEqual({
        file: f.name,
        content: f.content,
      });
    }
  });

  test('generation is deterministic', async () => {
    expect(await generateMonitoringManifests(options)).toEqual(await generateMonitoringManifests(options));
  });

  test('the PrometheusRule holds every rule group of the rule files, unchanged', async () => {
    const [rule] = await generateMonitoringManifests(options);
    const [doc] = parseAllDocuments(rule!.content).map((d) => d.toJS());
    expect(doc.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(doc.kind).toBe('PrometheusRule');
    const groups = (await loadRuleFiles(options.rulesDir)).flatMap((f) => f.groups);
    expect(doc.spec.groups).toEqual(JSON.parse(JSON.stringify(groups)));
  });

  test('each dashboard is a ConfigMap labelled for the Grafana sidecar, holding the JSON file verbatim', async () => {
    const [, dashboards] = await generateMonitoringManifests(options);
    const docs = parseAllDocuments(dashboards!.content).map((d) => d.toJS());
    expect(docs.map((d) => d.metadata.name)).toEqual([
      'grafana-dashboard-model-server-model',
      'grafana-dashboard-model-server-system',
    ]);
    for (const d of docs) {
      expect(d.kind).toBe('ConfigMap');
      expect(d.metadata.labels.grafana_dashboard).toBe('1');
      const entries = Object.entries(d.data as Record<string, string>);
      expect(entries).toHaveLength(1);
      const [key, value] = entries[0]!;
      expect(value).toBe(await readFile(join(options.dashboardsDir, key), 'utf8'));
    }
  });

  test('the script writes into a repository copy, and --check fails on a stale file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'monitoring-gen-'));
    temps.push(root);
    await cp(join(ROOT, 'monitoring', 'rules'), join(root, 'monitoring', 'rules'), { recursive: true });
    await cp(join(ROOT, 'monitoring', 'dashboards'), join(root, 'monitoring', 'dashboards'), {
      recursive: true,
    });
    const lines: string[] = [];
    expect(await main(['--root', root], (l) => lines.push(l))).toBe(0);
    expect(lines).toEqual([
      'wrote manifests/monitoring/prometheus-rule.yaml',
      'wrote manifests/monitoring/grafana-dashboards.yaml',
    ]);
    expect(await main(['--root', root, '--check'], () => {})).toBe(0);
    await writeFile(join(root, 'manifests', 'monitoring', 'prometheus-rule.yaml'), '# edited by hand\n');
    await expect(main(['--root', root, '--check'], () => {})).rejects.toThrow(
      /out of date: manifests\/monitoring\/prometheus-rule\.yaml\n.*npm run monitoring:generate/,
    );
    const files = await generateMonitoringManifests({
      rulesDir: join(root, 'monitoring', 'rules'),
      dashboardsDir: join(root, 'monitoring', 'dashboards'),
    });
    expect(await staleGenerated(join(root, 'manifests', 'monitoring'), files)).toEqual([
      join(root, 'manifests', 'monitoring', 'prometheus-rule.yaml'),
    ]);
  });

  test('an unknown flag is a usage error', async () => {
    await expect(main(['--nope'], () => {})).rejects.toMatchObject({ code: 'USAGE' });
  });
});
