import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { joinArtifactPath, type MlflowClient } from '../../platform/mlflow/index.ts';
import type { LocalRunJson, LocalRunStore } from './local-store.ts';

export interface UploadOutcome {
  localRunId: string;
  /** uploaded, or skipped because it already was / it is still running. */
  action: 'uploaded' | 'skipped-uploaded' | 'skipped-running';
  remoteRunId?: string;
  modelVersion?: string;
}

const pairs = (m: Record<string, string>) => Object.entries(m).map(([key, value]) => ({ key, value }));

/**
 * Upload local-store runs to an MLflow server: run (name, start time, tags),
 * params, the whole metric history, dataset inputs, artifacts, the registered model version
 * and aliases, then the final status and end time. Idempotent: the remote
 * run id is recorded in run.json under `uploads[<server>]` and a completed
 * upload is skipped; an upload cut off half-way is deleted on the server and
 * done again. Runs still RUNNING are skipped unless `includeRunning`.
 */
export async function uploadLocalRuns(input: {
  store: LocalRunStore;
  client: MlflowClient;
  /** Upload only these run ids (default: all). */
  runIds?: string[];
  includeRunning?: boolean;
  now?: () => Date;
  log?: (line: string) => void;
}): Promise<UploadOutcome[]> {
  const { store, client } = input;
  const log = input.log ?? ((l: string) => console.error(l));
  const now = input.now ?? (() => new Date());
  const server = client.trackingUri;
  const out: UploadOutcome[] = [];
  const runs = (await store.listRuns()).filter((r) => !input.runIds || input.runIds.includes(r.run_id));
  for (const run of runs) {
    const previous = run.uploads[server];
    if (previous?.complete) {
      out.push({ localRunId: run.run_id, action: 'skipped-uploaded', remoteRunId: previous.run_id });
      continue;
    }
    if (run.status === 'RUNNING' && !input.includeRunning) {
      log(`skip ${run.run_id}: still RUNNING (a crashed process leaves this; --include-running uploads it)`);
      out.push({ localRunId: run.run_id, action: 'skipped-running' });
      continue;
    }
    // Remote runs this one replaces: a half-done earlier upload, or the run the
    // recorder started before the server went down.
    const stale = [previous?.run_id];
    if (run.abandoned_remote?.tracking_uri === server) stale.push(run.abandoned_remote.run_id);
    for (const id of stale) if (id) await client.deleteRun(id).catch(() => undefined);

    const result = await uploadOne(run, store, client, server, now);
    log(`uploaded ${run.run_id} → ${server} run ${result.remoteRunId}`);
    out.push({ localRunId: run.run_id, action: 'uploaded', ...result });
  }
  return out;
}

async function uploadOne(
  run: LocalRunJson,
  store: LocalRunStore,
  client: MlflowClient,
  server: string,
  now: () => Date,
): Promise<{ remoteRunId: string; modelVersion?: string }> {
  const experimentId = await client.getOrCreateExperiment(run.experiment);
  const info = await client.createRun({
    experimentId,
    runName: run.run_name,
    startTime: run.start_time,
    tags: pairs({ ...run.tags, 'gitops-ml.local_run_id': run.run_id }),
  });
  await store.updateRun(run.run_id, (r) => {
    r.uploads[server] = {
      run_id: info.run_id,
      experiment_id: experimentId,
      complete: false,
      uploaded_at: now().toISOString(),
    };
  });
  await client.logBatch(info.run_id, {
    params: pairs(run.params),
    metrics: await store.readMetrics(run.run_id),
  });
  await client.logInputs(info.run_id, run.inputs ?? []);
  const artifacts = store.artifactsDir(run.run_id);
  if (existsSync(artifacts)) await client.uploadArtifacts(info.artifact_uri, artifacts, '');
  let modelVersion: string | undefined;
  if (run.model && existsSync(join(artifacts, run.model.artifact_path))) {
    await client.createRegisteredModel(run.model.name);
    const mv = await client.createModelVersion({
      name: run.model.name,
      source: `${info.artifact_uri}/${joinArtifactPath(run.model.artifact_path)}`,
      runId: info.run_id,
    });
    modelVersion = mv.version;
    for (const alias of run.model.aliases) await client.setAlias(run.model.name, alias, mv.version);
  }
  await client.updateRun(info.run_id, {
    status: run.status === 'RUNNING' ? 'KILLED' : run.status,
    endTime: run.end_time ?? now().getTime(),
  });
  await store.updateRun(run.run_id, (r) => {
    r.uploads[server] = {
      run_id: info.run_id,
      experiment_id: experimentId,
      complete: true,
      model_version: modelVersion,
      uploaded_at: now().toISOString(),
    };
  });
  return { remoteRunId: info.run_id, modelVersion };
}
