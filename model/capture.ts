/**
 * The payload capture format `capture/v1` (docs/capture.md): one definition
 * of the record, how it is built, how records are written to and read from
 * JSON Lines, and where each object goes. Serving's capture
 * (serving/capture.ts) writes a sampled record of each `/predict` answer;
 * batch scoring (pipelines/scoring) writes one record per scored image in
 * the same format, so the same readers (feedback export, DuckDB, the data
 * flywheel) read both. Depends on platform/ only.
 */
import { ProjectError } from '../platform/errors.ts';

/** The schema every record carries; a change that is not a new optional field is a new version. */
export const CAPTURE_SCHEMA = 'capture/v1';

/** Every capture object lives under this prefix (of the bucket, or of a batch-scoring output). */
export const CAPTURE_PREFIX = `${CAPTURE_SCHEMA}/`;

/** One label of a top-k answer. */
export interface Prediction {
  label: string;
  probability: number;
}

/** One captured image, as the record names it. */
export interface CapturedImage {
  sha256: string;
  bytes: number;
  content_type: string;
  /** True when the image is stored at `capture/v1/images/<sha256>` (within the size cap). */
  stored: boolean;
}

/** One record of `capture/v1`: one answer of /predict, or one image of a batch-scoring run. */
export interface CaptureRecord {
  schema: typeof CAPTURE_SCHEMA;
  answer_id: string;
  request_id: string;
  /** ISO 8601 time of the answer. */
  at: string;
  model: string;
  version: string;
  pod: string;
  /** Time from the request's arrival to its answer, ms (batch scoring: the image's share of its batch). */
  latency_ms: number;
  images: CapturedImage[];
  /** The top-k answer for each image, as /predict gave it. */
  predictions: Prediction[][];
  /** Optional (batch scoring): where the image was read, a file path relative to the input or an s3:// URL. */
  source?: string;
  /** Optional (batch scoring): why the image could not be scored; its predictions are then `[]`. */
  error?: string;
}

/** The key of a captured image. */
export const capturedImageKey = (sha256: string): string => `${CAPTURE_PREFIX}images/${sha256}`;

/**
 * The partition of a record, Hive style: `model=<m>/version=<v>/date=YYYY-MM-DD`
 * (model and version URI-encoded; the UTC day of `at`).
 */
export const capturePartition = (r: Pick<CaptureRecord, 'model' | 'version' | 'at'>): string =>
  `${captureVersionPartition(r.model, r.version)}/date=${r.at.slice(0, 10)}`;

/** `model=<m>/version=<v>`: the partitions of one model version, every day under it. */
export const captureVersionPartition = (model: string, version: string): string =>
  `model=${encodeURIComponent(model)}/version=${encodeURIComponent(version)}`;

/** The key of one JSON Lines object of records: `capture/v1/<partition>/<name>.jsonl`. */
export const captureObjectKey = (partition: string, name: string): string =>
  `${CAPTURE_PREFIX}${partition}/${name}.jsonl`;

/** The media type of image bytes, from their first bytes (PNG or JPEG; anything else: octet-stream). */
export function imageContentType(bytes: Uint8Array): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  return 'application/octet-stream';
}

/** The k most probable labels, most probable first (ties: label order). */
export function topK(probs: Float32Array, labels: readonly string[], k: number): Prediction[] {
  return labels
    .map((label, i) => ({ label, probability: probs[i] ?? 0, i }))
    .sort((a, b) => b.probability - a.probability || a.i - b.i)
    .slice(0, k)
    .map(({ label, probability }) => ({ label, probability }));
}

export interface CaptureRecordInput {
  answerId: string;
  requestId: string;
  /** Time of the answer, ms since the epoch. */
  at: number;
  model: string;
  version: string;
  pod: string;
  latencyMs: number;
  /** The images, in order, with their sha256 (hex) when already computed. */
  images: { bytes: Uint8Array; sha256: string }[];
  /** Images larger than this are not stored (digest only); 0 = digests only. */
  maxImageBytes: number;
  predictions: Prediction[][];
  source?: string;
  error?: string;
}

/** Build one record: the one place that lays out a record's fields. */
export function buildCaptureRecord(i: CaptureRecordInput): CaptureRecord {
  return {
    schema: CAPTURE_SCHEMA,
    answer_id: i.answerId,
    request_id: i.requestId,
    at: new Date(i.at).toISOString(),
    model: i.model,
    version: i.version,
    pod: i.pod,
    latency_ms: Math.round(i.latencyMs * 1000) / 1000,
    images: i.images.map((im) => ({
      sha256: im.sha256,
      bytes: im.bytes.byteLength,
      content_type: imageContentType(im.bytes),
      stored: im.bytes.byteLength <= i.maxImageBytes,
    })),
    predictions: i.predictions,
    ...(i.source !== undefined ? { source: i.source } : {}),
    ...(i.error !== undefined ? { error: i.error } : {}),
  };
}

/** Records as one JSON Lines text (one record a line, trailing newline). */
export const captureLines = (records: readonly CaptureRecord[]): string =>
  `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;

/**
 * The records of one JSON Lines object. INVALID naming `where` and the line
 * for a line that is not JSON or not `capture/v1`.
 */
export function parseCaptureLines(text: string, where: string): CaptureRecord[] {
  const out: CaptureRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new ProjectError('INVALID', `${where}:${i + 1}: not JSON (${(e as Error).message})`, {
        subject: where,
        line: i + 1,
        cause: e,
      });
    }
    const schema = (v as { schema?: unknown } | null)?.schema;
    if (schema !== CAPTURE_SCHEMA) {
      throw new ProjectError(
        'INVALID',
        `${where}:${i + 1}: schema ${JSON.stringify(schema)} is not "${CAPTURE_SCHEMA}"`,
        {
          subject: where,
          line: i + 1,
          hint: 'read it with a reader of its schema version (docs/capture.md)',
        },
      );
    }
    out.push(v as CaptureRecord);
  });
  return out;
}
