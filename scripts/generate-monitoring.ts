/**
 * Generate manifests/monitoring/ (PrometheusRule, Grafana dashboard
 * ConfigMaps) from monitoring/rules/*.yaml and monitoring/dashboards/*.json.
 *
 *   npm run monitoring:generate            write the files
 *   npm run monitoring:generate -- --check exit 1 if a committed file is stale
 */
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateMonitoringManifests, staleGenerated, writeGenerated } from '../monitoring/index.ts';
import { isMain, ProjectError, parseCommand, runMain } from '../platform/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run monitoring:generate --',
  summary: `Generate manifests/monitoring/ (the PrometheusRule, the Grafana dashboard
ConfigMaps) from monitoring/rules/*.yaml and monitoring/dashboards/*.json, and
print each file written.`,
  options: {
    check: {
      type: 'boolean',
      default: false,
      help: 'do not write; fail (exit 1) when manifests/monitoring/ differs from a fresh generation',
    },
    root: { type: 'string', value: '<dir>', help: "repository root (default: this script's repository)" },
  },
  exit: {
    0: 'written (--check: up to date)',
    1: 'failed, or with --check a committed file is out of date (each named)',
  },
} as const;

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function main(argv: string[], log: (line: string) => void = console.log): Promise<number> {
  const cli = parseCommand(argv, COMMAND, log);
  if (!cli) return 0;
  const { values } = cli;
  const root = values.root ?? REPO_ROOT;
  const outDir = join(root, 'manifests', 'monitoring');
  const files = await generateMonitoringManifests({
    rulesDir: join(root, 'monitoring', 'rules'),
    dashboardsDir: join(root, 'monitoring', 'dashboards'),
  });
  if (values.check) {
    const stale = await staleGenerated(outDir, files);
    if (stale.length > 0) {
      throw new ProjectError('CONFLICT', `out of date: ${stale.map((p) => relative(root, p)).join(', ')}`, {
        hint: 'run `npm run monitoring:generate` and commit the result',
      });
    }
    log(`manifests/monitoring is up to date (${files.length} files)`);
    return 0;
  }
  await writeGenerated(outDir, files);
  for (const f of files) log(`wrote ${relative(root, join(outDir, f.name))}`);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
