import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import {
  contractSeriesNames,
  parseContractMetrics,
  unknownMetrics,
} from '../testing/monitoring/metric-contract.ts';
import { promtoolInstalled } from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { metricNames } from './promql.ts';
import { checkRules, testRules } from './promtool.ts';
import { alertingRules, listYamlFiles, loadRuleFiles, parseRuleFile, recordedNames } from './rules.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RULES = join(ROOT, 'monitoring', 'rules');
const TESTS = join(ROOT, 'monitoring', 'tests');
const RUNBOOK_BASE = 'https://github.com/OWNER/REPO/blob/main/';

interface AlertTestCase {
  alertname: string;
  eval_time: string;
  exp_alerts?: unknown[];
}

async function alertTestCases(): Promise<(AlertTestCase & { file: string; test: string })[]> {
  const out: (AlertTestCase & { file: string; test: string })[] = [];
  for (const file of await listYamlFiles(TESTS)) {
    const doc = parse(await readFile(file, 'utf8')) as {
      tests: { name: string; alert_rule_test?: AlertTestCase[] }[];
    };
    for (const t of doc.tests)
      for (const c of t.alert_rule_test ?? []) out.push({ ...c, file, test: t.name });
  }
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    anchors.add(
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return anchors;
}

const promtool = promtoolInstalled();
const withPromtool = needs(promtool).test;

describe('monitoring rules', () => {
  withPromtool('promtool check rules passes on every rule file', async () => {
    const result = await checkRules(promtool.path, await listYamlFiles(RULES));
    expect(result.output).not.toContain('FAILED');
    expect(result.ok).toBe(true);
  });

  withPromtool('promtool test rules passes on every test file', async () => {
    const files = await listYamlFiles(TESTS);
    expect(files.length).toBeGreaterThan(0);
    const result = await testRules(promtool.path, files);
    if (!result.ok) throw new Error(result.output);
    expect(result.output.match(/SUCCESS/g)).toHaveLength(files.length);
  });

  test('every alert has a test case that fires and one that does not', async () => {
    const alerts = alertingRules(await loadRuleFiles(RULES)).map((a) => a.alert);
    const cases = await alertTestCases();
    const missing: string[] = [];
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      if (!mine.some((c) => (c.exp_alerts ?? []).length > 0))
        missing.push(`${alert}: no case where it fires`);
      if (!mine.some((c) => (c.exp_alerts ?? []).length === 0))
        missing.push(`${alert}: no case where it stays quiet`);
    }
    expect(missing).toEqual([]);
    // And no test names an alert that does not exist.
    expect(cases.map((c) => c.alertname).filter((n) => !alerts.includes(n))).toEqual([]);
  });

  test('every runbook_url points to an existing docs page and section', async () => {
    const problems: string[] = [];
    for (const rule of alertingRules(await loadRuleFiles(RULES))) {
      const url = rule.annotations.runbook_url;
      if (!url.startsWith(`${RUNBOOK_BASE}docs/runbooks/`)) {
        problems.push(`${rule.alert}: ${url} is not under ${RUNBOOK_BASE}docs/runbooks/`);
        continue;
      }
      const [path, anchor] = url.slice(RUNBOOK_BASE.length).split('#') as [string, string | undefined];
      const file = join(ROOT, path);
      if (!existsSync(file)) {
        problems.push(`${rule.alert}: ${path} does not exist`);
        continue;
      }
      const text = await readFile(file, 'utf8');
      if (anchor && !headingAnchors(text).has(anchor))
        problems.push(`${rule.alert}: ${path} has no section #${anchor}`);
      if (!text.includes(rule.alert)) problems.push(`${rule.alert}: ${path} does not name the alert`);
    }
    expect(problems).toEqual([]);
  });

  test('every runbook page is linked from the runbook index', async () => {
    const index = await readFile(join(ROOT, 'docs', 'runbooks', 'README.md'), 'utf8');
    const pages = (await readdir(join(ROOT, 'docs', 'runbooks'))).filter((n) => n !== 'README.md');
    expect(pages.filter((p) => !index.includes(`(${p}`))).toEqual([]);
  });

  test('rules select only metrics of docs/contracts.md, recorded names and standard metrics', async () => {
    const files = await loadRuleFiles(RULES);
    const allowed = contractSeriesNames(
      parseContractMetrics(await readFile(join(ROOT, 'docs', 'contracts.md'), 'utf8')),
    );
    for (const name of recordedNames(files)) allowed.add(name);
    const unknown = files.flatMap((f) =>
      f.groups.flatMap((g) =>
        g.rules.flatMap((r) => unknownMetrics(metricNames(r.expr), allowed).map((n) => `${g.name}: ${n}`)),
      ),
    );
    expect(unknown).toEqual([]);
  });
});

describe('rule file validation', () => {
  test('an alert without a runbook_url or severity is refused, naming the file and fields', () => {
    const text =
      'groups:\n  - name: g\n    rules:\n      - alert: Foo\n        expr: up == 0\n        labels: {}\n        annotations: {summary: s, description: d}\n';
    expect(() => parseRuleFile('bad.yaml', text)).toThrow(/bad\.yaml is invalid/);
    try {
      parseRuleFile('bad.yaml', text);
    } catch (e) {
      expect((e as Error).message).toContain('missing required field "severity"');
      expect((e as Error).message).toContain('missing required field "runbook_url"');
    }
  });

  test('a file that is not YAML names the file', () => {
    expect(() => parseRuleFile('broken.yaml', 'groups: [')).toThrow(/broken\.yaml is not valid YAML/);
  });
});
