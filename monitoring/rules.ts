/**
 * Load and validate the Prometheus rule files of monitoring/rules/*.yaml.
 * The format is Prometheus' rule file
 * (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/),
 * narrowed by this project's policy: every alert has a `severity` label and the
 * `summary`, `description` and `runbook_url` annotations.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compileValidator, ProjectError } from '../platform/index.ts';

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels: Record<string, string> & { severity: Severity };
  annotations: Record<string, string> & { summary: string; description: string; runbook_url: string };
}

export type Rule = RecordingRule | AlertingRule;

export interface RuleGroup {
  name: string;
  interval?: string;
  limit?: number;
  rules: Rule[];
}

/** One rule file: its path and its groups, in file order. */
export interface RuleFile {
  path: string;
  groups: RuleGroup[];
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const duration = { type: 'string', pattern: '^([0-9]+(ms|s|m|h|d|w|y))+$' };

const validateRuleFile = compileValidator<{ groups: RuleGroup[] }>({
  type: 'object',
  required: ['groups'],
  additionalProperties: false,
  properties: {
    groups: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'rules'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          interval: duration,
          limit: { type: 'integer', minimum: 0 },
          rules: {
            type: 'array',
            minItems: 1,
            items: {
              oneOf: [
                {
                  type: 'object',
                  required: ['record', 'expr'],
                  additionalProperties: false,
                  properties: {
                    record: { type: 'string', pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$' },
                    expr: { type: 'string', minLength: 1 },
                    labels: stringMap,
                  },
                },
                {
                  type: 'object',
                  required: ['alert', 'expr', 'labels', 'annotations'],
                  additionalProperties: false,
                  properties: {
                    alert: { type: 'string', pattern: '^[A-Z][a-zA-Z0-9]*$' },
                    expr: { type: 'string', minLength: 1 },
                    for: duration,
                    keep_firing_for: duration,
                    labels: {
                      ...stringMap,
                      required: ['severity'],
                      properties: { severity: { enum: [...SEVERITIES] } },
                    },
                    annotations: {
                      ...stringMap,
                      required: ['summary', 'description', 'runbook_url'],
                      properties: {
                        summary: { type: 'string', minLength: 1 },
                        description: { type: 'string', minLength: 1 },
                        runbook_url: { type: 'string', pattern: '^https://' },
                      },
                    },
                  },
                },
              ],
            },
          },
        },
      },
    },
  },
});

export const isAlertingRule = (rule: Rule): rule is AlertingRule => 'alert' in rule;
export const isRecordingRule = (rule: Rule): rule is RecordingRule => 'record' in rule;

/** Parse and validate one rule file; a YAML or schema error names the file and every bad field. */
export function parseRuleFile(path: string, text: string): RuleFile {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new ProjectError('INVALID', `${path} is not valid YAML: ${(e as Error).message}`, {
      subject: path,
      cause: e,
    });
  }
  const { groups } = validateRuleFile(doc, path);
  return { path, groups };
}

/** The `*.yaml` files of a folder, sorted by name (the order of every generated output). */
export async function listYamlFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new ProjectError('NOT_FOUND', `cannot read rule folder ${dir}`, { subject: dir, cause: e });
  }
  return names
    .filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * Load every rule file of `dir`. Group names must be unique across files
 * (Prometheus and the PrometheusRule would otherwise merge or reject them),
 * and so must alert names, since runbooks and tests are keyed by them.
 */
export async function loadRuleFiles(dir: string): Promise<RuleFile[]> {
  const files: RuleFile[] = [];
  for (const path of await listYamlFiles(dir)) {
    files.push(parseRuleFile(path, await readFile(path, 'utf8')));
  }
  if (files.length === 0) {
    throw new ProjectError('NOT_FOUND', `no rule file (*.yaml) in ${dir}`, { subject: dir });
  }
  const groupSeen = new Map<string, string>();
  const alertSeen = new Map<string, string>();
  for (const file of files) {
    for (const group of file.groups) {
      const prev = groupSeen.get(group.name);
      if (prev) {
        throw new ProjectError('CONFLICT', `rule group "${group.name}" is in both ${prev} and ${file.path}`, {
          subject: file.path,
          hint: 'rename one of the groups',
        });
      }
      groupSeen.set(group.name, file.path);
      for (const rule of group.rules) {
        if (!isAlertingRule(rule)) continue;
        const prevAlert = alertSeen.get(rule.alert);
        if (prevAlert) {
          throw new ProjectError(
            'CONFLICT',
            `alert "${rule.alert}" is defined twice (${prevAlert}, ${file.path})`,
            {
              subject: file.path,
              hint: 'give each alert one rule; use one name per severity',
            },
          );
        }
        alertSeen.set(rule.alert, file.path);
      }
    }
  }
  return files;
}

/** Every alerting rule of the files, in file order. */
export function alertingRules(files: RuleFile[]): AlertingRule[] {
  return files.flatMap((f) => f.groups.flatMap((g) => g.rules.filter(isAlertingRule)));
}

/** The names recorded by the recording rules of the files (each once). */
export function recordedNames(files: RuleFile[]): string[] {
  const names = files.flatMap((f) =>
    f.groups.flatMap((g) => g.rules.filter(isRecordingRule).map((r) => r.record)),
  );
  return [...new Set(names)];
}
