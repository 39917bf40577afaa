import type { DatasetInput, Metric, RunStatus } from '../../platform/mlflow/index.ts';
import type { LocalRunStore } from './local-store.ts';
import { LocalSink, MlflowSink, type RunSink, type StartedRun } from './sinks.ts';

/** What a finished run hands back to training (and on into models.lock.json). */
export interface TrackingResult {
  runId: string;
  /** The run's artifact root (`mlflow-artifacts:/...` on a server, `file://...` locally). */
  artifactUri: string;
  /** The registered model version, when the run was registered on a server. */
  modelVersion?: string;
  /** Where the run ended up: the server URL or the local store folder. */
  where: string;
  /** True when the run is (also) only in the local store and waits for upload-runs. */
  offline: boolean;
  /** The command that uploads it later, when offline. */
  uploadCommand?: string;
}

export interface RecorderOptions {
  /** Where records go first: an MlflowSink, or a LocalSink when no server is configured. */
  primary: RunSink;
  /** Offline buffer for when the primary (a server) fails; omit to let errors through. */
  fallbackStore?: LocalRunStore;
  /** Flush buffered metrics once this many points are waiting. */
  maxBufferedMetrics?: number;
  /** ... or once this long has passed since the last flush (checked when metrics arrive). */
  flushIntervalMs?: number;
  now?: () => number;
  /** Human-readable progress and warnings (stderr in scripts). Never given credentials. */
  log?: (line: string) => void;
}

/**
 * Records one run: params and tags at once, metrics buffered and flushed in
 * batches, artifacts, model registration, final status. Everything is also
 * kept in memory, so that when the tracking server fails (after the HTTP
 * layer's retries) the whole run so far is replayed into the local store and
 * the run goes on there: an unreachable server never loses a training run.
 */
export class RunRecorder {
  #sink: RunSink;
  readonly #primary: RunSink;
  readonly #fallbackStore?: LocalRunStore;
  readonly #maxBuffered: number;
  readonly #flushIntervalMs: number;
  readonly #now: () => number;
  readonly #log: (line: string) => void;

  #experiment = '';
  #runName?: string;
  #startTime = 0;
  #started?: StartedRun;
  readonly #params: Record<string, string> = {};
  readonly #tags: Record<string, string> = {};
  readonly #metrics: Metric[] = [];
  readonly #inputs: DatasetInput[] = [];
  #buffer: Metric[] = [];
  #lastFlush = 0;
  readonly #artifacts: { localDir: string; artifactPath: string }[] = [];
  #model?: { name: string; artifactPath: string; aliases: string[] };
  #modelVersion?: string;
  #status?: RunStatus;

  constructor(options: RecorderOptions) {
    this.#primary = options.primary;
    this.#sink = options.primary;
    this.#fallbackStore = options.fallbackStore;
    this.#maxBuffered = options.maxBufferedMetrics ?? 500;
    this.#flushIntervalMs = options.flushIntervalMs ?? 15_000;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? ((l) => console.error(l));
  }

  /** True when the run is in the local store (no server, or the server failed). */
  get offline(): boolean {
    return this.#sink.kind === 'local';
  }

  get runId(): string | undefined {
    return this.#started?.runId;
  }

  async start(input: {
    experiment: string;
    runName?: string;
    params?: Record<string, string>;
    tags?: Record<string, string>;
  }): Promise<StartedRun> {
    this.#experiment = input.experiment;
    this.#runName = input.runName;
    this.#startTime = this.#now();
    this.#lastFlush = this.#startTime;
    Object.assign(this.#tags, input.tags);
    Object.assign(this.#params, input.params);
    await this.#guard('start the run', async (s) => {
      this.#started = await s.start(this.#startArgs());
      if (Object.keys(this.#params).length) await s.log({ params: this.#params });
    });
    return this.#started!;
  }

  #startArgs() {
    return {
      experiment: this.#experiment,
      runName: this.#runName,
      startTime: this.#startTime,
      tags: this.#tags,
    };
  }

  async logParams(params: Record<string, string>): Promise<void> {
    Object.assign(this.#params, params);
    await this.#guard('log params', (s) => s.log({ params }));
  }

  async setTags(tags: Record<string, string>): Promise<void> {
    Object.assign(this.#tags, tags);
    await this.#guard('set tags', (s) => s.log({ tags }));
  }

  /** Record the datasets the run used (MLflow dataset inputs). */
  async logInputs(inputs: DatasetInput[]): Promise<void> {
    if (inputs.length === 0) return;
    this.#inputs.push(...inputs);
    await this.#guard('log the dataset inputs', (s) => s.log({ inputs }));
  }

  /** Buffer metric values for `step`; non-finite values are dropped (JSON cannot carry them). */
  async logMetrics(values: Record<string, number | undefined>, step: number): Promise<void> {
    const timestamp = this.#now();
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const m = { key, value, step, timestamp };
      this.#metrics.push(m);
      this.#buffer.push(m);
    }
    if (this.#buffer.length >= this.#maxBuffered || timestamp - this.#lastFlush >= this.#flushIntervalMs) {
      await this.flush();
    }
  }

  /** Send buffered metrics now. */
  async flush(): Promise<void> {
    this.#lastFlush = this.#now();
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer;
    this.#buffer = [];
    await this.#guard('log metrics', (s) => s.log({ metrics: batch }));
  }

  /** Upload (or copy) every file under `localDir` to the run's artifacts at `artifactPath`. */
  async logArtifacts(localDir: string, artifactPath: string): Promise<void> {
    this.#artifacts.push({ localDir, artifactPath });
    await this.#guard('upload artifacts', (s) => s.logArtifacts(localDir, artifactPath));
  }

  /** Register the artifacts at `artifactPath` as a new version of `name`, and point `aliases` at it. */
  async registerModel(
    name: string,
    artifactPath: string,
    aliases: string[] = [],
  ): Promise<string | undefined> {
    this.#model = { name, artifactPath, aliases };
    await this.#guard('register the model', async (s) => {
      this.#modelVersion = await s.registerModel(name, artifactPath, aliases);
    });
    return this.#modelVersion;
  }

  /** Flush and set the final status; returns where the run is and how to upload it if offline. */
  async end(status: RunStatus, uploadHintUri?: string): Promise<TrackingResult> {
    this.#status = status;
    await this.flush();
    await this.#guard(`mark the run ${status}`, (s) => s.end(status, this.#now()));
    const started = this.#started!;
    const result: TrackingResult = {
      runId: started.runId,
      artifactUri: started.artifactUri,
      modelVersion: this.#modelVersion,
      where: this.#sink.where,
      offline: this.offline,
    };
    if (this.offline) {
      const uri = uploadHintUri ?? (this.#primary.kind === 'mlflow' ? this.#primary.where : '<url>');
      result.uploadCommand = `npm run upload-runs -- --store ${this.#sink.where} --tracking-uri ${uri}`;
      this.#log(
        `run ${started.runId} is in the local store ${this.#sink.where}; upload it to MLflow with:\n  ${result.uploadCommand}`,
      );
    }
    return result;
  }

  /**
   * Run `op` on the current sink. If it fails on the server, move to the local
   * store: replay everything recorded so far there, then go on locally.
   */
  async #guard(what: string, op: (sink: RunSink) => Promise<void>): Promise<void> {
    try {
      await op(this.#sink);
      return;
    } catch (e) {
      if (this.#sink !== this.#primary || !this.#fallbackStore || this.#sink.kind !== 'mlflow') throw e;
      this.#log(
        `warning: could not ${what} on ${this.#sink.where}: ${(e as Error).message}\n` +
          `  → the run goes on in the local store ${this.#fallbackStore.root}`,
      );
    }
    await this.#goOffline(this.#fallbackStore);
  }

  async #goOffline(store: LocalRunStore): Promise<void> {
    const local = new LocalSink(store);
    const remote = this.#primary instanceof MlflowSink ? this.#primary.started : undefined;
    this.#sink = local;
    this.#started = await local.start(this.#startArgs());
    if (remote) await local.abandonRemote(this.#primary.where, remote.runId);
    await local.log({ params: this.#params, tags: this.#tags, metrics: this.#metrics, inputs: this.#inputs });
    this.#buffer = [];
    for (const a of this.#artifacts) await local.logArtifacts(a.localDir, a.artifactPath);
    if (this.#model)
      await local.registerModel(this.#model.name, this.#model.artifactPath, this.#model.aliases);
    this.#modelVersion = undefined;
    if (this.#status) await local.end(this.#status, this.#now());
  }
}
