import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listFiles } from '../digest.ts';
import { isProjectError, ProjectError } from '../errors.ts';
import { encodePath, joinArtifactPath, proxyPathOf } from './artifact-uri.ts';
import { chunkLogBatch, type LogBatch } from './batch.ts';
import { type HttpOptions, MlflowHttp } from './http.ts';
import type {
  DatasetInput,
  Experiment,
  FileInfo,
  Metric,
  ModelVersion,
  RegisteredModel,
  Run,
  RunInfo,
  RunStatus,
  RunTag,
} from './types.ts';

const API = '/api/2.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

/**
 * A typed client for the MLflow tracking server's REST API: experiments,
 * runs, batched logging, artifacts through the server's artifact proxy, and
 * the model registry (registered models, versions, aliases).
 * @see https://mlflow.org/docs/latest/api_reference/rest-api.html
 */
export class MlflowClient {
  readonly http: MlflowHttp;

  constructor(options: HttpOptions) {
    this.http = new MlflowHttp(options);
  }

  /** The server's base URL, without credentials: safe to print. */
  get trackingUri(): string {
    return this.http.baseUrl;
  }

  /** `GET /health`: resolves when the server answers. */
  async health(): Promise<void> {
    await this.http.request({ method: 'GET', path: '/health', raw: true });
  }

  /** The experiment of that name, or undefined. */
  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      const r = await this.http.request<{ experiment: Experiment }>({
        method: 'GET',
        path: `${API}/experiments/get-by-name`,
        query: { experiment_name: name },
      });
      return r.experiment;
    } catch (e) {
      if (isProjectError(e) && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** Create an experiment; returns its id. */
  async createExperiment(name: string): Promise<string> {
    const r = await this.http.request<{ experiment_id: string }>({
      method: 'POST',
      path: `${API}/experiments/create`,
      json: { name },
    });
    return r.experiment_id;
  }

  /** The id of the experiment of that name, created when missing (safe against a concurrent create). */
  async getOrCreateExperiment(name: string): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) return found.experiment_id;
    try {
      return await this.createExperiment(name);
    } catch (e) {
      if (!(isProjectError(e) && e.code === 'CONFLICT')) throw e;
      const again = await this.getExperimentByName(name);
      if (!again) throw e;
      return again.experiment_id;
    }
  }

  async createRun(input: {
    experimentId: string;
    runName?: string;
    startTime?: number;
    tags?: RunTag[];
  }): Promise<RunInfo> {
    const r = await this.http.request<{ run: Run }>({
      method: 'POST',
      path: `${API}/runs/create`,
      json: {
        experiment_id: input.experimentId,
        run_name: input.runName,
        start_time: input.startTime ?? Date.now(),
        tags: input.tags ?? [],
      },
    });
    return r.run.info;
  }

  async getRun(runId: string): Promise<Run> {
    const r = await this.http.request<{ run: Run }>({
      method: 'GET',
      path: `${API}/runs/get`,
      query: { run_id: runId },
    });
    return r.run;
  }

  /** Set a run's status (and end time when it is terminal). */
  async updateRun(runId: string, input: { status: RunStatus; endTime?: number }): Promise<RunInfo> {
    const r = await this.http.request<{ run_info: RunInfo }>({
      method: 'POST',
      path: `${API}/runs/update`,
      json: { run_id: runId, status: input.status, end_time: input.endTime },
    });
    return r.run_info;
  }

  async deleteRun(runId: string): Promise<void> {
    await this.http.request({ method: 'POST', path: `${API}/runs/delete`, json: { run_id: runId } });
  }

  /** Log params, tags and metrics, split into as many log-batch requests as the server limits need. */
  async logBatch(runId: string, batch: LogBatch): Promise<void> {
    for (const chunk of chunkLogBatch(batch)) {
      await this.http.request({
        method: 'POST',
        path: `${API}/runs/log-batch`,
        json: { run_id: runId, ...chunk },
      });
    }
  }

  /**
   * Record the datasets a run used (`POST runs/log-inputs`), shown on the run page
   * and searchable, as `mlflow.log_input` does.
   * @see https://mlflow.org/docs/latest/api_reference/rest-api.html#log-inputs
   */
  async logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    if (datasets.length === 0) return;
    await this.http.request({
      method: 'POST',
      path: `${API}/runs/log-inputs`,
      json: { run_id: runId, datasets },
    });
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.http.request({
      method: 'POST',
      path: `${API}/runs/set-tag`,
      json: { run_id: runId, key, value },
    });
  }

  /** The whole history of one metric of a run (all pages), in server order. */
  async getMetricHistory(runId: string, metricKey: string): Promise<Metric[]> {
    const out: Metric[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.http.request<{ metrics?: Metric[]; next_page_token?: string }>({
        method: 'GET',
        path: `${API}/metrics/get-history`,
        query: { run_id: runId, metric_key: metricKey, max_results: 25000, page_token: pageToken },
      });
      out.push(...(r.metrics ?? []));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  /** Upload bytes as `<artifactUri>/<path>` through the artifact proxy. */
  async uploadArtifact(artifactUri: string, path: string, data: Uint8Array): Promise<void> {
    const full = joinArtifactPath(proxyPathOf(artifactUri, this.http.baseUrl), path);
    await this.http.request({ method: 'PUT', path: `${ARTIFACTS}/${encodePath(full)}`, body: data });
  }

  /**
   * Upload every file under `localDir` (recursively) to `<artifactUri>/<artifactPath>/...`,
   * in sorted order. Returns the uploaded relative paths.
   */
  async uploadArtifacts(artifactUri: string, localDir: string, artifactPath = ''): Promise<string[]> {
    const files = await listFiles(localDir);
    for (const rel of files) {
      await this.uploadArtifact(
        artifactUri,
        joinArtifactPath(artifactPath, rel),
        await readFile(join(localDir, rel)),
      );
    }
    return files;
  }

  /** Download `<artifactUri>/<path>` byte for byte. */
  async downloadArtifact(artifactUri: string, path: string): Promise<Uint8Array> {
    const full = joinArtifactPath(proxyPathOf(artifactUri, this.http.baseUrl), path);
    return this.http.request<Uint8Array>({
      method: 'GET',
      path: `${ARTIFACTS}/${encodePath(full)}`,
      raw: true,
    });
  }

  /** The entries directly under a run's artifact path (`artifacts/list`), paths relative to the run root. */
  async listArtifacts(runId: string, path?: string): Promise<FileInfo[]> {
    const r = await this.http.request<{ files?: FileInfo[] }>({
      method: 'GET',
      path: `${API}/artifacts/list`,
      query: { run_id: runId, path },
    });
    return r.files ?? [];
  }

  /** Every file under a run's artifact path, recursively, sorted. */
  async listArtifactsRecursive(runId: string, path?: string): Promise<FileInfo[]> {
    const out: FileInfo[] = [];
    for (const f of await this.listArtifacts(runId, path)) {
      if (f.is_dir) out.push(...(await this.listArtifactsRecursive(runId, f.path)));
      else out.push(f);
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Create a registered model; an existing one of that name is fine. */
  async createRegisteredModel(name: string): Promise<void> {
    try {
      await this.http.request({ method: 'POST', path: `${API}/registered-models/create`, json: { name } });
    } catch (e) {
      if (!(isProjectError(e) && e.code === 'CONFLICT')) throw e;
    }
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const r = await this.http.request<{ registered_model: RegisteredModel }>({
      method: 'GET',
      path: `${API}/registered-models/get`,
      query: { name },
    });
    return r.registered_model;
  }

  /** Register a new version of `name` from `source` (an artifact URI of the model folder) logged by `runId`. */
  async createModelVersion(input: {
    name: string;
    source: string;
    runId: string;
    tags?: RunTag[];
    description?: string;
  }): Promise<ModelVersion> {
    const r = await this.http.request<{ model_version: ModelVersion }>({
      method: 'POST',
      path: `${API}/model-versions/create`,
      json: {
        name: input.name,
        source: input.source,
        run_id: input.runId,
        tags: input.tags,
        description: input.description,
      },
    });
    return r.model_version;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const r = await this.http.request<{ model_version: ModelVersion }>({
      method: 'GET',
      path: `${API}/model-versions/get`,
      query: { name, version },
    });
    return r.model_version;
  }

  /** Point `alias` of model `name` at `version` (moves it if it pointed elsewhere). */
  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.http.request({
      method: 'POST',
      path: `${API}/registered-models/alias`,
      json: { name, alias, version },
    });
  }

  /** The version an alias points at; NOT_FOUND when the model or alias does not exist. */
  async getVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    try {
      const r = await this.http.request<{ model_version: ModelVersion }>({
        method: 'GET',
        path: `${API}/registered-models/alias`,
        query: { name, alias },
      });
      return r.model_version;
    } catch (e) {
      if (isProjectError(e) && (e.code === 'NOT_FOUND' || e.code === 'INVALID')) {
        throw new ProjectError('NOT_FOUND', `model ${name} has no alias @${alias} on ${this.trackingUri}`, {
          subject: name,
          hint: `set it with setAlias, or check the model name in the MLflow UI at ${this.trackingUri}`,
          cause: e,
        });
      }
      throw e;
    }
  }
}
