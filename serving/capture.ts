/**
 * Payload capture (docs/capture.md): a sampled record of each answer
 * written to the object store, off the request path, in the versioned
 * format `capture/v1`:
 *
 *   capture/v1/model=<m>/version=<v>/date=YYYY-MM-DD/<pod>-<start>-<seq>.jsonl   one record per answer
 *   capture/v1/images/<sha256>                                                  each image, content-addressed
 *
 * Bounded: `/predict` only appends to a queue (never awaits the store); the
 * queue holds at most `maxQueueRecords` records and `maxQueueBytes` bytes
 * (images included), and a record that does not fit is dropped and counted
 * (`serving_capture_dropped_total{reason="queue_full"}`). One batch is
 * written at a time, every `flushMs` or when `batchRecords` are waiting; a
 * batch the store refuses or does not take in time is dropped and counted
 * (`reason="store_error"`). {@link Capture.close} flushes what is left
 * within a deadline; what is not confirmed written by then, the batch in
 * flight included, is counted `reason="shutdown"`.
 */
import {
  type CaptureRecord,
  capturedImageKey,
  captureLines,
  captureObjectKey,
  capturePartition,
} from '../model/capture.ts';
import { isProjectError } from '../platform/index.ts';
import type { ObjectStore } from '../platform/object-store/index.ts';
import type { Logger } from './logger.ts';
import type { ServingMetrics } from './metrics.ts';

// The format is model/capture.ts's (one definition, shared with batch scoring).
export {
  CAPTURE_PREFIX,
  type CapturedImage,
  type CaptureRecord,
  capturedImageKey,
} from '../model/capture.ts';

export interface CaptureConfig {
  /** Share of answers captured, 0 to 1 (SERVING_CAPTURE_SAMPLE); 0 = off. */
  sample: number;
  /** Largest image stored with its record (SERVING_CAPTURE_MAX_IMAGE_BYTES); larger ones: digest only. */
  maxImageBytes: number;
  /** Bytes held in the queue at most, records and images (SERVING_CAPTURE_QUEUE_BYTES). */
  maxQueueBytes: number;
  /** Records held in the queue at most. */
  maxQueueRecords: number;
  /** Records per written object at most. */
  batchRecords: number;
  /** How often the queue is written (SERVING_CAPTURE_FLUSH_MS). */
  flushMs: number;
}

/** What /predict hands over: the record and the bytes of its images. */
export interface CaptureEntry {
  record: CaptureRecord;
  images: Uint8Array[];
}

interface Queued {
  record: CaptureRecord;
  images: Uint8Array[];
  bytes: number;
}

export interface CaptureOptions {
  config: CaptureConfig;
  store: ObjectStore;
  bucket: string;
  pod: string;
  metrics: ServingMetrics;
  logger: Logger;
  random?: () => number;
  now?: () => number;
}

/** The capture of one server process. */
export class Capture {
  readonly #o: CaptureOptions;
  readonly #queue: Queued[] = [];
  readonly #start: number;
  #bytes = 0;
  #seq = 0;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastWarning = 0;

  constructor(o: CaptureOptions) {
    this.#o = o;
    this.#start = (o.now ?? Date.now)();
    this.#timer = setInterval(() => void this.flush(), o.config.flushMs);
    this.#timer.unref();
    o.metrics.captureQueueBytes.set(0);
  }

  /** Whether this answer is sampled (call before building its record). */
  sampled(): boolean {
    return !this.#closed && (this.#o.random ?? Math.random)() < this.#o.config.sample;
  }

  /** Queue a record (never waits); dropped and counted when the queue is full. */
  offer(entry: CaptureEntry): void {
    const { config, metrics } = this.#o;
    if (this.#closed) {
      metrics.captureDropped.inc({ reason: 'shutdown' });
      return;
    }
    const images = entry.images.map((b, i) => (entry.record.images[i]?.stored ? b : undefined));
    const kept = images.filter((b): b is Uint8Array => b !== undefined);
    const bytes = JSON.stringify(entry.record).length + kept.reduce((n, b) => n + b.byteLength, 0);
    if (this.#queue.length >= config.maxQueueRecords || this.#bytes + bytes > config.maxQueueBytes) {
      metrics.captureDropped.inc({ reason: 'queue_full' });
      return;
    }
    // Copies: a view would pin the whole request body in the queue.
    this.#queue.push({
      record: entry.record,
      images: images.map((b) => (b ? Buffer.from(b) : new Uint8Array())),
      bytes,
    });
    this.#bytes += bytes;
    metrics.captureQueueBytes.set(this.#bytes);
    if (this.#queue.length >= config.batchRecords) void this.flush();
  }

  /** Records waiting now, and their bytes. */
  get queued(): { records: number; bytes: number } {
    return { records: this.#queue.length, bytes: this.#bytes };
  }

  /** Write what is queued, one batch at a time; resolves when the queue was empty once. */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /**
   * Stop sampling and write what is left within `timeoutMs`; what is still
   * queued then is dropped and counted (`reason="shutdown"`).
   */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.flush().then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      const left = this.#queue.splice(0);
      this.#o.metrics.captureDropped.inc({ reason: 'shutdown' }, left.length);
      this.#bytes = 0;
      this.#o.metrics.captureQueueBytes.set(0);
      this.#o.logger.warn('capture: records not written before the shutdown deadline', {
        dropped: left.length,
        timeoutMs,
      });
    }
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#o.config.batchRecords);
      let error: unknown;
      try {
        await this.#write(batch);
      } catch (e) {
        error = e;
      }
      // close() gave up on it meanwhile (counted as shutdown): not counted twice.
      if (this.#queue[0] !== batch[0]) continue;
      if (error === undefined) this.#o.metrics.captureRecords.inc(batch.length);
      else {
        this.#o.metrics.captureDropped.inc({ reason: 'store_error' }, batch.length);
        this.#warn(error, batch.length);
      }
      // The batch leaves the queue however the write ended.
      for (const q of this.#queue.splice(0, batch.length)) this.#bytes -= q.bytes;
      this.#o.metrics.captureQueueBytes.set(this.#bytes);
    }
  }

  /** Images first (content-addressed, each once), then one JSON Lines object per model, version and day. */
  async #write(batch: Queued[]): Promise<void> {
    const { store, bucket, pod } = this.#o;
    const images = new Map<string, { bytes: Uint8Array; type: string }>();
    for (const q of batch) {
      q.record.images.forEach((img, i) => {
        const bytes = q.images[i];
        if (img.stored && bytes && bytes.byteLength > 0)
          images.set(img.sha256, { bytes, type: img.content_type });
      });
    }
    for (const [sha, img] of images) {
      try {
        await store.put({ bucket, key: capturedImageKey(sha) }, img.bytes, {
          contentType: img.type,
          ifNoneMatch: true,
        });
      } catch (e) {
        // The same bytes are there already (another answer, another replica).
        if (!(isProjectError(e) && e.code === 'CONFLICT')) throw e;
      }
    }
    const groups = new Map<string, CaptureRecord[]>();
    for (const q of batch) {
      const dir = capturePartition(q.record);
      groups.set(dir, [...(groups.get(dir) ?? []), q.record]);
    }
    for (const [dir, records] of groups) {
      const key = captureObjectKey(dir, `${pod}-${this.#start}-${String(this.#seq++).padStart(6, '0')}`);
      // Never over another object: a key is written once, whole.
      await store.put({ bucket, key }, captureLines(records), {
        contentType: 'application/x-ndjson',
        ifNoneMatch: true,
      });
    }
  }

  /** One warning per 30 s at most: a store that is down does not flood the log. */
  #warn(e: unknown, records: number): void {
    const now = Date.now();
    if (now - this.#lastWarning < 30_000) return;
    this.#lastWarning = now;
    this.#o.logger.warn('capture: a batch was not written and is dropped', {
      records,
      error: isProjectError(e) ? e.message : String(e),
    });
  }
}
