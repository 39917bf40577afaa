import { pathToFileURL } from 'node:url';
import {
  type DatasetInput,
  joinArtifactPath,
  type Metric,
  type MlflowClient,
  type RunStatus,
} from '../../platform/mlflow/index.ts';
import type { LocalRunStore } from './local-store.ts';

/** What a run is started with. */
export interface RunStart {
  experiment: string;
  runName?: string;
  startTime: number;
  tags: Record<string, string>;
}

export interface StartedRun {
  runId: string;
  artifactUri: string;
}

/** What one log call carries: params, tags, metric points, the datasets the run used. */
export interface RunBatch {
  params?: Record<string, string>;
  tags?: Record<string, string>;
  metrics?: Metric[];
  inputs?: DatasetInput[];
}

/** Where a run's records go: a tracking server or the local store. */
export interface RunSink {
  readonly kind: 'mlflow' | 'local';
  /** A printable description: the server URL or the store folder. */
  readonly where: string;
  start(run: RunStart): Promise<StartedRun>;
  log(batch: RunBatch): Promise<void>;
  logArtifacts(localDir: string, artifactPath: string): Promise<void>;
  /** Register the folder at `artifactPath` as a new version of model `name`; the version, if the sink has a registry. */
  registerModel(name: string, artifactPath: string, aliases: string[]): Promise<string | undefined>;
  end(status: RunStatus, endTime: number): Promise<void>;
}

const pairs = (m: Record<string, string> | undefined) =>
  Object.entries(m ?? {}).map(([key, value]) => ({ key, value }));

/** A run on an MLflow tracking server. */
export class MlflowSink implements RunSink {
  readonly kind = 'mlflow' as const;
  readonly #client: MlflowClient;
  #run?: StartedRun;

  constructor(client: MlflowClient) {
    this.#client = client;
  }

  get where(): string {
    return this.#client.trackingUri;
  }

  /** The remote run, once started (kept even when the server later fails). */
  get started(): StartedRun | undefined {
    return this.#run;
  }

  #need(): StartedRun {
    if (!this.#run) throw new Error('MlflowSink used before start()');
    return this.#run;
  }

  async start(run: RunStart): Promise<StartedRun> {
    const experimentId = await this.#client.getOrCreateExperiment(run.experiment);
    const info = await this.#client.createRun({
      experimentId,
      runName: run.runName,
      startTime: run.startTime,
      tags: pairs(run.tags),
    });
    this.#run = { runId: info.run_id, artifactUri: info.artifact_uri };
    return this.#run;
  }

  async log(batch: RunBatch) {
    await this.#client.logBatch(this.#need().runId, {
      params: pairs(batch.params),
      tags: pairs(batch.tags),
      metrics: batch.metrics,
    });
    if (batch.inputs?.length) await this.#client.logInputs(this.#need().runId, batch.inputs);
  }

  async logArtifacts(localDir: string, artifactPath: string): Promise<void> {
    await this.#client.uploadArtifacts(this.#need().artifactUri, localDir, artifactPath);
  }

  async registerModel(name: string, artifactPath: string, aliases: string[]): Promise<string> {
    const run = this.#need();
    await this.#client.createRegisteredModel(name);
    const mv = await this.#client.createModelVersion({
      name,
      source: `${run.artifactUri}/${joinArtifactPath(artifactPath)}`,
      runId: run.runId,
    });
    for (const alias of aliases) await this.#client.setAlias(name, alias, mv.version);
    return mv.version;
  }

  async end(status: RunStatus, endTime: number): Promise<void> {
    await this.#client.updateRun(this.#need().runId, { status, endTime });
  }
}

/** A run in the local store (no registry: the model is registered when the run is uploaded). */
export class LocalSink implements RunSink {
  readonly kind = 'local' as const;
  readonly store: LocalRunStore;
  #runId?: string;

  constructor(store: LocalRunStore) {
    this.store = store;
  }

  get where(): string {
    return this.store.root;
  }

  get runId(): string | undefined {
    return this.#runId;
  }

  #need(): string {
    if (!this.#runId) throw new Error('LocalSink used before start()');
    return this.#runId;
  }

  async start(run: RunStart): Promise<StartedRun> {
    const created = await this.store.createRun({
      experiment: run.experiment,
      runName: run.runName,
      startTime: run.startTime,
      tags: run.tags,
    });
    this.#runId = created.run_id;
    return {
      runId: created.run_id,
      artifactUri: pathToFileURL(this.store.artifactsDir(created.run_id)).href,
    };
  }

  async log(batch: RunBatch) {
    const id = this.#need();
    if (
      Object.keys(batch.params ?? {}).length ||
      Object.keys(batch.tags ?? {}).length ||
      batch.inputs?.length
    ) {
      await this.store.updateRun(id, (r) => {
        Object.assign(r.params, batch.params);
        Object.assign(r.tags, batch.tags);
        if (batch.inputs?.length) r.inputs = [...(r.inputs ?? []), ...batch.inputs];
      });
    }
    await this.store.appendMetrics(id, batch.metrics ?? []);
  }

  async logArtifacts(localDir: string, artifactPath: string): Promise<void> {
    await this.store.copyArtifacts(this.#need(), localDir, artifactPath);
  }

  async registerModel(name: string, artifactPath: string, aliases: string[]): Promise<undefined> {
    await this.store.updateRun(this.#need(), (r) => {
      r.model = { name, artifact_path: joinArtifactPath(artifactPath), aliases };
    });
    return undefined;
  }

  async end(status: RunStatus, endTime: number): Promise<void> {
    await this.store.updateRun(this.#need(), (r) => {
      r.status = status;
      r.end_time = endTime;
    });
  }

  /** Note the server run this local run replaces, so that upload-runs deletes it. */
  async abandonRemote(trackingUri: string, runId: string): Promise<void> {
    await this.store.updateRun(this.#need(), (r) => {
      r.abandoned_remote = { tracking_uri: trackingUri, run_id: runId };
    });
  }
}
