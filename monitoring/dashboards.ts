/**
 * Grafana dashboards of monitoring/dashboards/*.json (Grafana's dashboard JSON
 * model, https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/):
 * load them, check the fields this project relies on, and list every PromQL
 * query so tests can hold them to the metric contract.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { compileValidator, ProjectError, parseNamedJson } from '../platform/index.ts';
import type { NamedExpression } from './promtool.ts';

export interface DashboardTarget {
  refId: string;
  expr: string;
  [key: string]: unknown;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
  [key: string]: unknown;
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating?: { list: { name: string; type: string; query?: unknown; [key: string]: unknown }[] };
  [key: string]: unknown;
}

/** A dashboard with the file it came from and that file's exact text. */
export interface DashboardFile {
  path: string;
  text: string;
  dashboard: Dashboard;
}

const panelSchema = {
  type: 'object',
  required: ['id', 'type', 'title', 'gridPos'],
  properties: {
    id: { type: 'integer', minimum: 1 },
    type: { type: 'string', minLength: 1 },
    title: { type: 'string', minLength: 1 },
    gridPos: {
      type: 'object',
      required: ['x', 'y', 'w', 'h'],
      properties: {
        x: { type: 'integer', minimum: 0, maximum: 23 },
        y: { type: 'integer', minimum: 0 },
        w: { type: 'integer', minimum: 1, maximum: 24 },
        h: { type: 'integer', minimum: 1 },
      },
    },
    targets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['refId', 'expr'],
        properties: { refId: { type: 'string' }, expr: { type: 'string', minLength: 1 } },
      },
    },
    panels: { type: 'array', items: { $ref: '#/$defs/panel' } },
  },
};

const validateDashboard = compileValidator<Dashboard>({
  $defs: { panel: panelSchema },
  type: 'object',
  required: ['uid', 'title', 'panels', 'schemaVersion'],
  properties: {
    uid: { type: 'string', pattern: '^[a-zA-Z0-9_-]{1,40}$' },
    title: { type: 'string', minLength: 1 },
    schemaVersion: { type: 'integer' },
    panels: { type: 'array', minItems: 1, items: { $ref: '#/$defs/panel' } },
  },
});

/** Every panel, rows' nested panels included, in order. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  const walk = (panels: DashboardPanel[]): DashboardPanel[] =>
    panels.flatMap((p) => [p, ...walk(p.panels ?? [])]);
  return walk(dashboard.panels);
}

/** Parse and check one dashboard: schema, unique panel ids, a target on every non-row panel. */
export function parseDashboard(path: string, text: string): Dashboard {
  const dashboard = validateDashboard(parseNamedJson(text, path), path);
  const ids = new Set<number>();
  for (const panel of allPanels(dashboard)) {
    if (ids.has(panel.id)) {
      throw new ProjectError('INVALID', `${path}: panel id ${panel.id} ("${panel.title}") is used twice`, {
        subject: path,
        hint: 'give each panel its own id',
      });
    }
    ids.add(panel.id);
    if (panel.type !== 'row' && !panel.targets?.length) {
      throw new ProjectError('INVALID', `${path}: panel "${panel.title}" has no query`, { subject: path });
    }
  }
  return dashboard;
}

/** Load every `*.json` dashboard of `dir`, sorted by file name; uids must be unique. */
export async function loadDashboards(dir: string): Promise<DashboardFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  const files: DashboardFile[] = [];
  const uids = new Map<string, string>();
  for (const name of names) {
    const path = join(dir, name);
    const text = await readFile(path, 'utf8');
    const dashboard = parseDashboard(path, text);
    const prev = uids.get(dashboard.uid);
    if (prev) {
      throw new ProjectError('CONFLICT', `dashboard uid "${dashboard.uid}" is in both ${prev} and ${path}`, {
        subject: path,
      });
    }
    uids.set(dashboard.uid, path);
    files.push({ path, text, dashboard });
  }
  if (files.length === 0)
    throw new ProjectError('NOT_FOUND', `no dashboard (*.json) in ${dir}`, { subject: dir });
  return files;
}

/**
 * Every PromQL query of a dashboard: each panel target's `expr`, and the
 * series selector inside each `label_values(<selector>, <label>)` variable query.
 */
export function dashboardExpressions(file: DashboardFile): NamedExpression[] {
  const where = basename(file.path);
  const out: NamedExpression[] = [];
  for (const panel of allPanels(file.dashboard)) {
    for (const t of panel.targets ?? []) {
      out.push({ name: `${where}: panel "${panel.title}" target ${t.refId}`, expr: t.expr });
    }
  }
  for (const v of file.dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: unknown } | undefined)?.query;
    const m =
      typeof q === 'string' ? /^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(q.trim()) : null;
    if (m) out.push({ name: `${where}: variable "${v.name}"`, expr: m[1]! });
  }
  return out;
}
