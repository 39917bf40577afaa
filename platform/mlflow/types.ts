/**
 * Wire types of the MLflow REST API 2.0 that this project uses, as the
 * server sends them (snake_case JSON). Only the fields we read are typed.
 * @see https://mlflow.org/docs/latest/api_reference/rest-api.html
 */

/** Run lifecycle status (mlflow.RunStatus). */
export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
}

export interface RunInfo {
  run_id: string;
  run_name?: string;
  experiment_id: string;
  status: RunStatus;
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage?: string;
}

export interface Metric {
  key: string;
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  step: number;
}

export interface Param {
  key: string;
  value: string;
}

export interface RunTag {
  key: string;
  value: string;
}

export interface RunData {
  metrics?: Metric[];
  params?: Param[];
  tags?: RunTag[];
}

/**
 * A dataset as MLflow records it (mlflow.entities.Dataset). The server caps
 * `digest` at 36 characters (MAX_DATASET_DIGEST_SIZE) and `source_type` too.
 * @see https://mlflow.org/docs/latest/api_reference/rest-api.html#mlflowdataset
 */
export interface DatasetEntity {
  name: string;
  digest: string;
  /** e.g. `http`, `local` (MLflow's DatasetSource types). */
  source_type: string;
  /** JSON text of the source, e.g. `{"url": "https://..."}`. */
  source: string;
  schema?: string;
  /** JSON text of summary statistics. */
  profile?: string;
}

/** A dataset used by a run, with tags such as `mlflow.data.context` = `training`. */
export interface DatasetInput {
  dataset: DatasetEntity;
  tags?: RunTag[];
}

export interface Run {
  info: RunInfo;
  data: RunData;
  inputs?: { dataset_inputs?: DatasetInput[] };
}

export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export interface RegisteredModel {
  name: string;
  aliases?: { alias: string; version: string }[];
}

export interface ModelVersion {
  name: string;
  version: string;
  source?: string;
  run_id?: string;
  status?: string;
  aliases?: string[];
}

/** Body of an MLflow error response. */
export interface MlflowErrorBody {
  error_code?: string;
  message?: string;
}
