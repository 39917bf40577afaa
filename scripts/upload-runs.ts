/**
 * Upload runs from the local run store (mlruns-local/, see docs/tracking.md)
 * to an MLflow server, so that they show in the real MLflow UI. Idempotent:
 * runs already uploaded to that server are skipped.
 *
 *   npm run upload-runs -- --tracking-uri http://mlflow:5000 [--store mlruns-local] [--run <id>]... [--include-running]
 *
 * Credentials come from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.
 */
import { resolve } from 'node:path';
import { isMain, ProjectError, parseCommand, runMain, usageOf } from '../platform/index.ts';
import { httpOptionsOf, MlflowClient, mlflowConfigFromEnv } from '../platform/mlflow/index.ts';
import { DEFAULT_LOCAL_STORE, LocalRunStore, uploadLocalRuns } from '../training/tracking/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run upload-runs --',
  summary: `Upload runs from the local run store (docs/tracking.md) to an MLflow server, so
that they show in the real MLflow UI. Runs already uploaded to that server are
skipped: a second run uploads nothing new.`,
  options: {
    'tracking-uri': {
      type: 'string',
      value: '<url>',
      help: 'the MLflow server (default: MLFLOW_TRACKING_URI)',
    },
    store: {
      type: 'string',
      value: '<dir>',
      help: `the local run store (default: ./${DEFAULT_LOCAL_STORE})`,
    },
    run: { type: 'string', multiple: true, value: '<id>', help: 'upload only this local run id' },
    'include-running': { type: 'boolean', help: 'also upload runs still marked RUNNING (as KILLED)' },
  },
  notes: `Credentials come from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD. Prints one line per run: uploaded or skipped, and where.`,
} as const;

export async function main(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Promise<number> {
  const cli = parseCommand(argv, COMMAND, console.log);
  if (!cli) return 0;
  const { values } = cli;
  const config = mlflowConfigFromEnv(env, values['tracking-uri']);
  if (!config) throw new ProjectError('USAGE', `no tracking server given\n\n${usageOf(COMMAND)}`);
  const client = new MlflowClient(
    httpOptionsOf(config, {
      onRetry: (r) => console.error(`MLflow: ${r.reason}; retry ${r.attempt} in ${r.delayMs} ms`),
    }),
  );
  const store = new LocalRunStore(resolve(cwd, values.store ?? DEFAULT_LOCAL_STORE));
  const outcomes = await uploadLocalRuns({
    store,
    client,
    runIds: values.run,
    includeRunning: values['include-running'],
  });
  const uploaded = outcomes.filter((o) => o.action === 'uploaded').length;
  const skipped = outcomes.length - uploaded;
  console.log(
    `${uploaded} run(s) uploaded to ${client.trackingUri}, ${skipped} skipped (from ${store.root})`,
  );
  for (const o of outcomes) {
    console.log(
      `  ${o.localRunId}  ${o.action}${o.remoteRunId ? `  ${client.trackingUri}/#/runs/${o.remoteRunId}` : ''}${
        o.modelVersion ? `  model version ${o.modelVersion}` : ''
      }`,
    );
  }
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
