/**
 * Batch scoring (docs/batch-scoring.md): every image of a folder or an
 * `s3://` prefix through one pinned, digest-checked model version, the
 * answers written as `capture/v1` records (model/capture.ts, the format
 * serving's payload capture writes), one JSON Lines object per batch.
 *
 * Resumable: a batch's object is named by its keys (./plan.ts) and written
 * whole, once (./io.ts); a run first lists what is there and skips those
 * batches. An abort (Ctrl-C) stops between batches: what was written stays.
 * An image that cannot be read or decoded is an error record, not a crash.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { buildLayersModel, predictBatch } from '../../model/artifact/layers.ts';
import { type FetchOptions, fetchVerifiedArtifact, modelParts } from '../../model/artifact/read.ts';
import {
  buildCaptureRecord,
  type CaptureRecord,
  captureLines,
  captureObjectKey,
  capturePartition,
  topK,
} from '../../model/capture.ts';
import type { ModelPin } from '../../model/pin.ts';
import { decodeImage, type PreprocessingSpec, toModelInput } from '../../model/preprocessing.ts';
import { isProjectError, ProjectError } from '../../platform/errors.ts';
import type { ObjectStore } from '../../platform/object-store/index.ts';
import { doneBatches, type Location, listImages, locate, readImage, versionRoot, writeOnce } from './io.ts';
import { planBatches, type ScoringBatch, type Shard, shardBatches } from './plan.ts';

export interface ScoreOptions {
  pin: ModelPin;
  input: Location;
  out: Location;
  /** Images per batch and per output object (default 32). */
  batchSize?: number;
  /** Labels per answer (default 3). */
  topK?: number;
  /** This process's shard (default 0 of 1: everything). */
  shard?: Shard;
  /** The `pod` of every record (default HOSTNAME, else the host name). */
  pod?: string;
  /** Stop between batches when aborted; the result says `interrupted`. */
  signal?: AbortSignal;
  /** How the artifact is fetched (MLflow, object store config for s3:// artifact URIs). */
  fetch?: FetchOptions;
}

export interface ScoreDeps {
  /** The store `s3://` inputs and outputs are read and written through. */
  store?: ObjectStore;
  /** Progress: once with the plan, then after each batch. */
  progress?: ScoreProgress;
  now?: () => number;
}

export interface ScoreProgress {
  start(total: { batches: number; images: number; skippedBatches: number; skippedImages: number }): void;
  batch(done: { images: number; errors: number }): void;
  stop(): void;
}

export interface ScoreResult {
  model: string;
  version: string;
  shard: Shard;
  /** Images of the whole input, and of this shard. */
  inputImages: number;
  shardImages: number;
  batches: number;
  /** Batches (and their images) already written by an earlier run: not scored again. */
  skippedBatches: number;
  skippedImages: number;
  /** Batches written by this run, and the images in them (error records included). */
  writtenBatches: number;
  scoredImages: number;
  /** Error records written (images that could not be read or decoded). */
  errors: number;
  /** True when the run stopped early (abort); what was written stays. */
  interrupted: boolean;
  /** Where the records are: `<out>/capture/v1/model=<m>/version=<v>/`. */
  records: string;
}

/** Score every image of `opts.input` (this shard's batches) into `opts.out`. */
export async function scoreImages(opts: ScoreOptions, deps: ScoreDeps = {}): Promise<ScoreResult> {
  const { pin, input, out } = opts;
  const shard = opts.shard ?? { index: 0, count: 1 };
  const root = versionRoot(pin.name, pin.version);

  // The model first: a missing version or a changed file stops the run before any work.
  const artifact = await fetchVerifiedArtifact(pin, { digestsSubject: 'models.lock.json', ...opts.fetch });
  const { parts, labels, spec } = modelParts(artifact);
  const { result, todo } = await planRun(opts, shard, root, deps.store);
  deps.progress?.start({
    batches: result.batches,
    images: result.shardImages,
    skippedBatches: result.skippedBatches,
    skippedImages: result.skippedImages,
  });
  const scorer: Scorer = {
    pin,
    input,
    store: deps.store,
    model: await buildLayersModel(parts),
    modelInput: parts.input,
    labels,
    spec,
    k: opts.topK ?? 3,
    pod: opts.pod ?? process.env.HOSTNAME ?? hostname(),
    now: deps.now ?? Date.now,
  };
  try {
    for (const batch of todo) {
      if (opts.signal?.aborted) {
        result.interrupted = true;
        break;
      }
      const records = await scoreBatch(batch, scorer);
      const key = captureObjectKey(capturePartition(records[0] as CaptureRecord), batch.name);
      const outcome = await writeOnce(out, key, captureLines(records), deps.store);
      const errors = records.filter((r) => r.error !== undefined).length;
      if (outcome === 'written') {
        result.writtenBatches++;
        result.scoredImages += records.length;
        result.errors += errors;
      } else {
        // Another process (a second run over the same output) wrote it meanwhile: the same batch.
        result.skippedBatches++;
        result.skippedImages += records.length;
      }
      deps.progress?.batch({ images: records.length, errors });
    }
  } finally {
    scorer.model.dispose();
    deps.progress?.stop();
  }
  return result;
}

/**
 * The run's plan: the input's images in batches, this shard's, less those an
 * earlier run wrote already (the batches to do), and the result counting
 * them. NOT_FOUND when the input holds no image.
 */
async function planRun(
  opts: ScoreOptions,
  shard: Shard,
  root: string,
  store: ObjectStore | undefined,
): Promise<{ result: ScoreResult; todo: ScoringBatch[] }> {
  const { pin, input, out } = opts;
  const keys = await listImages(input, store);
  if (keys.length === 0) {
    throw new ProjectError('NOT_FOUND', `${input.shown} holds no PNG or JPEG image`, {
      subject: input.shown,
      hint: 'point --input at a folder or s3:// prefix of *.png / *.jpg files',
    });
  }
  const batches = shardBatches(planBatches(keys, opts.batchSize ?? 32), shard);
  const done = await doneBatches(out, root, store);
  const todo = batches.filter((b) => !done.has(b.name));
  const result: ScoreResult = {
    model: pin.name,
    version: pin.version,
    shard,
    inputImages: keys.length,
    shardImages: batches.reduce((n, b) => n + b.keys.length, 0),
    batches: batches.length,
    skippedBatches: batches.length - todo.length,
    skippedImages: batches.reduce((n, b) => n + (done.has(b.name) ? b.keys.length : 0), 0),
    writtenBatches: 0,
    scoredImages: 0,
    errors: 0,
    interrupted: false,
    records: locate(out, root),
  };
  return { result, todo };
}

/** What scoring a batch needs: the pinned version's built model and what its records say. */
interface Scorer {
  pin: ModelPin;
  input: Location;
  store: ObjectStore | undefined;
  model: Awaited<ReturnType<typeof buildLayersModel>>;
  /** The model's input shape (height, width, channels). */
  modelInput: [number, number, number];
  labels: string[];
  spec: PreprocessingSpec;
  /** Labels per answer. */
  k: number;
  pod: string;
  now: () => number;
}

/** One image of a batch as read: its model input, or why it has none. */
interface ReadImage {
  key: string;
  source: string;
  bytes: Uint8Array | undefined;
  x?: Float32Array;
  error?: string;
}

/** A batch's capture records: its images read, the readable ones predicted together, one record each (in key order). */
async function scoreBatch(batch: ScoringBatch, s: Scorer): Promise<CaptureRecord[]> {
  const at = s.now();
  const read = await Promise.all(batch.keys.map((key) => readForModel(key, s)));
  const good = read.filter((r) => r.x !== undefined);
  const started = performance.now();
  let probs: Float32Array = new Float32Array(0);
  if (good.length > 0) {
    const inputSize = s.spec.height * s.spec.width * s.spec.channels;
    const flat = new Float32Array(good.length * inputSize);
    good.forEach((r, i) => {
      flat.set(r.x as Float32Array, i * inputSize);
    });
    probs = await predictBatch(s.model, s.modelInput, flat, good.length);
  }
  const perImageMs = good.length > 0 ? (performance.now() - started) / good.length : 0;
  let g = 0;
  return read.map((r) => {
    const bytes = r.bytes ?? new Uint8Array();
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const ranked =
      r.x !== undefined
        ? [topK(probs.subarray(g * s.labels.length, ++g * s.labels.length), s.labels, s.k)]
        : [];
    return buildCaptureRecord({
      // Deterministic: the same image key scored by the same version has the same id.
      answerId: `score-${createHash('sha256').update(`${s.pin.version}\n${r.key}`).digest('hex').slice(0, 24)}`,
      requestId: batch.name,
      at,
      model: s.pin.name,
      version: s.pin.version,
      pod: s.pod,
      latencyMs: r.x !== undefined ? perImageMs : 0,
      images: r.bytes ? [{ bytes, sha256 }] : [],
      // Never stored again: the image stays where it was read (`source`).
      maxImageBytes: -1,
      predictions: ranked,
      source: r.source,
      ...(r.error !== undefined ? { error: r.error } : {}),
    });
  });
}

/**
 * One image read, decoded and preprocessed; an image that cannot be read or
 * decoded gets an error instead (its first line), but a store that does not
 * answer (UNAVAILABLE) stops the run.
 */
async function readForModel(key: string, s: Scorer): Promise<ReadImage> {
  const source = locate(s.input, key);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readImage(s.input, key, s.store);
    const image = await decodeImage(bytes, { source });
    return { key, source, bytes, x: toModelInput(image, s.spec) };
  } catch (e) {
    // A store that does not answer stops the run; one bad image does not.
    if (isProjectError(e) && e.code === 'UNAVAILABLE') throw e;
    return { key, source, bytes, error: isProjectError(e) ? e.message.split('\n')[0] : String(e) };
  }
}
