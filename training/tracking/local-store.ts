import { randomUUID } from 'node:crypto';
import { appendFile, cp, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import { readJsonFile, writeJsonAtomic } from '../../platform/fs.ts';
import type { DatasetInput, Metric, RunStatus } from '../../platform/mlflow/index.ts';
import { compileValidator } from '../../platform/schema.ts';

/** The default store folder, relative to the working folder. */
export const DEFAULT_LOCAL_STORE = 'mlruns-local';

/** `format` of run.json; a breaking change makes a v2 folder next to v1. */
export const LOCAL_RUN_FORMAT = 'gitops-ml/local-run@1';

/** One upload of a local run to a tracking server, keyed in run.json by the server URL. */
export interface LocalRunUpload {
  run_id: string;
  experiment_id: string;
  /** False while the upload is under way; a retry deletes that remote run and starts over. */
  complete: boolean;
  model_version?: string;
  uploaded_at: string;
}

/**
 * `<root>/v1/runs/<run_id>/run.json`: everything about a run except its metric
 * points (in `metrics.jsonl`) and files (under `artifacts/`). See docs/tracking.md.
 */
export interface LocalRunJson {
  format: typeof LOCAL_RUN_FORMAT;
  run_id: string;
  run_name?: string;
  experiment: string;
  status: RunStatus;
  start_time: number;
  end_time?: number;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** The datasets the run used, as MLflow's log-inputs takes them. */
  inputs?: DatasetInput[];
  /** The model folder to register on upload: `artifacts/<artifact_path>`. */
  model?: { name: string; artifact_path: string; aliases: string[] };
  /** A run that was started on a server before it became unreachable; upload deletes it. */
  abandoned_remote?: { tracking_uri: string; run_id: string };
  uploads: Record<string, LocalRunUpload>;
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
/** An object of string fields: `required` ones and `optional` ones, nothing else. */
const stringRecord = (required: string[], optional: string[] = []) => ({
  type: 'object',
  required,
  additionalProperties: false,
  properties: Object.fromEntries([...required, ...optional].map((k) => [k, { type: 'string' }])),
});
const validateRun = compileValidator<LocalRunJson>({
  type: 'object',
  required: ['format', 'run_id', 'experiment', 'status', 'start_time', 'params', 'tags', 'uploads'],
  additionalProperties: false,
  properties: {
    format: { const: LOCAL_RUN_FORMAT },
    run_id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    run_name: { type: 'string' },
    experiment: { type: 'string', minLength: 1 },
    status: { enum: ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] },
    start_time: { type: 'integer' },
    end_time: { type: 'integer' },
    params: stringMap,
    tags: stringMap,
    inputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['dataset'],
        additionalProperties: false,
        properties: {
          dataset: stringRecord(['name', 'digest', 'source_type', 'source'], ['schema', 'profile']),
          tags: { type: 'array', items: stringRecord(['key', 'value']) },
        },
      },
    },
    model: {
      type: 'object',
      required: ['name', 'artifact_path', 'aliases'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1 },
        artifact_path: { type: 'string' },
        aliases: { type: 'array', items: { type: 'string' } },
      },
    },
    abandoned_remote: {
      type: 'object',
      required: ['tracking_uri', 'run_id'],
      additionalProperties: false,
      properties: { tracking_uri: { type: 'string' }, run_id: { type: 'string' } },
    },
    uploads: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['run_id', 'experiment_id', 'complete', 'uploaded_at'],
        additionalProperties: false,
        properties: {
          run_id: { type: 'string' },
          experiment_id: { type: 'string' },
          complete: { type: 'boolean' },
          model_version: { type: 'string' },
          uploaded_at: { type: 'string' },
        },
      },
    },
  },
});

/**
 * The local run store: the tracking backend when no MLFLOW_TRACKING_URI is
 * set, and the offline buffer when the server is down. A versioned JSON
 * layout (not MLflow's file store), written atomically; scripts/upload-runs.ts
 * sends its runs to any MLflow server.
 */
export class LocalRunStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get runsDir(): string {
    return join(this.root, 'v1', 'runs');
  }

  runDir(runId: string): string {
    return join(this.runsDir, runId);
  }

  artifactsDir(runId: string): string {
    return join(this.runDir(runId), 'artifacts');
  }

  /** Create a run folder with its run.json; returns the new run id (32 hex, like MLflow's). */
  async createRun(input: {
    experiment: string;
    runName?: string;
    startTime: number;
    params?: Record<string, string>;
    tags?: Record<string, string>;
  }): Promise<LocalRunJson> {
    const run: LocalRunJson = {
      format: LOCAL_RUN_FORMAT,
      run_id: randomUUID().replaceAll('-', ''),
      run_name: input.runName,
      experiment: input.experiment,
      status: 'RUNNING',
      start_time: input.startTime,
      params: { ...input.params },
      tags: { ...input.tags },
      uploads: {},
    };
    await mkdir(this.artifactsDir(run.run_id), { recursive: true });
    await writeJsonAtomic(join(this.runDir(run.run_id), 'run.json'), run);
    return run;
  }

  /** Read and validate a run's run.json. */
  async readRun(runId: string): Promise<LocalRunJson> {
    const path = join(this.runDir(runId), 'run.json');
    return validateRun(await readJsonFile(path), path);
  }

  /** Read-modify-write run.json atomically. */
  async updateRun(runId: string, change: (run: LocalRunJson) => void): Promise<LocalRunJson> {
    const run = await this.readRun(runId);
    change(run);
    await writeJsonAtomic(join(this.runDir(runId), 'run.json'), run);
    return run;
  }

  /** Append metric points to metrics.jsonl, one JSON object per line. */
  async appendMetrics(runId: string, metrics: Metric[]): Promise<void> {
    if (metrics.length === 0) return;
    const lines = metrics
      .map((m) => JSON.stringify({ key: m.key, value: m.value, step: m.step, timestamp: m.timestamp }))
      .join('\n');
    await appendFile(join(this.runDir(runId), 'metrics.jsonl'), `${lines}\n`);
  }

  /** Every metric point of a run, in logged order. A torn last line (a crash mid-write) is dropped. */
  async readMetrics(runId: string): Promise<Metric[]> {
    const path = join(this.runDir(runId), 'metrics.jsonl');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const out: Metric[] = [];
    lines.forEach((line, i) => {
      try {
        const m = JSON.parse(line) as Metric;
        if (typeof m.key === 'string' && typeof m.value === 'number' && Number.isInteger(m.step)) out.push(m);
        else throw new Error('not a metric point');
      } catch (e) {
        if (i === lines.length - 1 && !text.endsWith('\n')) return;
        throw new ProjectError('INVALID', `${path}:${i + 1}: ${(e as Error).message}`, {
          subject: path,
          cause: e,
        });
      }
    });
    return out;
  }

  /** Copy a folder's files into the run's `artifacts/<artifactPath>/`. */
  async copyArtifacts(runId: string, localDir: string, artifactPath: string): Promise<void> {
    const dest = artifactPath ? join(this.artifactsDir(runId), artifactPath) : this.artifactsDir(runId);
    await mkdir(dest, { recursive: true });
    await cp(localDir, dest, { recursive: true });
  }

  /** Ids of every run in the store, sorted by start time then id. */
  async listRuns(): Promise<LocalRunJson[]> {
    let ids: string[];
    try {
      ids = (await readdir(this.runsDir, { withFileTypes: true }))
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const runs = await Promise.all(ids.map((id) => this.readRun(id)));
    return runs.sort((a, b) => a.start_time - b.start_time || (a.run_id < b.run_id ? -1 : 1));
  }
}
