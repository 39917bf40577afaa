/**
 * Ground-truth feedback from any replica (docs/serving.md "Feedback").
 *
 * Every `/predict` answer carries a signed `feedback_id` (./feedback-id.ts)
 * that says what the answer was; `POST /feedback` verifies it on whichever
 * replica it reaches and scores the label from it, without shared memory.
 * A label counts once per image of an answer: the {@link LabelLedger}
 * records the first one and refuses the rest. Two ledgers:
 *
 * - {@link StoreLedger}, when an object store is configured: each label is an
 *   object written with a conditional put (`If-None-Match: *`), so of any
 *   number of replicas receiving the same label at once exactly one writes it
 *   and counts it; it survives restarts and rollouts, and the export reads it.
 * - {@link MemoryLedger}, without a store: this process's memory, bounded in
 *   count and age. Counted once per process only: for one replica, or a demo.
 *
 * Accepted labels count into `serving_feedback_total` and
 * `serving_feedback_confusion_total` of the pod that received them (their sum
 * over pods is the labels received), and into this pod's window of the last
 * `window` outcomes (`serving_live_accuracy`).
 */
import { ProjectError } from '../platform/index.ts';
import type { ObjectStore } from '../platform/object-store/index.ts';
import { joinKey } from '../platform/object-store/index.ts';

export interface FeedbackConfig {
  /** Labels remembered by the in-memory ledger, and answers whose images it keeps (0 turns feedback off). */
  capacity: number;
  /** Image bytes remembered in memory for the export without a store, all answers together. */
  maxBytes: number;
  /** How long an answer can be given feedback, in ms: an older feedback_id is refused. */
  ttlMs: number;
  /** Outcomes in the live-accuracy window. */
  window: number;
  /** Bearer token of `GET /feedback/export`; the export is off without it. */
  exportToken?: string;
  /** Bearer token of `POST /feedback` (SERVING_FEEDBACK_TOKEN): when set, only labellers holding it may send labels. */
  token?: string;
  /** SERVING_ID_KEY: the key that signs feedback ids, shared by all replicas (a Secret). */
  idKey?: string;
  /** SERVING_ID_KEY_PREVIOUS: still accepted during a key rotation. */
  idKeyPrevious?: string;
  /** Labels one client may send a minute (SERVING_FEEDBACK_RATE_PER_MINUTE); 0: no limit. */
  ratePerMinute: number;
}

/** One label as recorded: the versioned record `feedback/v1` (docs/capture.md). */
export interface LabelRecord {
  schema: 'feedback/v1';
  answer_id: string;
  request_id: string;
  index: number;
  label: string;
  predicted: string;
  correct: boolean;
  model: string;
  version: string;
  /** sha256 (hex) of the labelled image: its captured copy is `capture/v1/images/<sha256>`. */
  image_sha256: string;
  /** ISO 8601 time of the answer. */
  answered_at: string;
  /** ISO 8601 time the label was recorded. */
  labelled_at: string;
  /** The replica that recorded it. */
  pod: string;
}

/** One exported feedback: the labelled image and what the model said. */
export interface ExportedFeedback {
  answer_id: string;
  request_id: string;
  index: number;
  label: string;
  predicted: string;
  version: string;
  /** ISO 8601 time the label was given. */
  labelled_at: string;
  image_sha256: string;
  content_type: string;
  image_base64: string;
}

/** Where labels are recorded, each (answer, index) once. */
export interface LabelLedger {
  /** True when labels survive restarts and are shared by replicas (the object store). */
  readonly shared: boolean;
  /**
   * Record a label.
   * @throws CONFLICT when this image of this answer already has one (it is not counted again);
   *   UNAVAILABLE when the store does not answer (not recorded: the client may retry).
   */
  record(r: LabelRecord): Promise<void>;
  /** Every label recorded, oldest answer day first. */
  list(): AsyncIterable<LabelRecord>;
}

const day = (iso: string): string => iso.slice(0, 10);

/** Where labels live in the bucket: `feedback/v1/model=<m>/version=<v>/date=<answer day>/<answer_id>-<index>.json`. */
export const FEEDBACK_PREFIX = 'feedback/v1/';

/** The prefix of one model's labels (its partitions), for a reader that wants only that model. */
export const feedbackModelPrefix = (model: string): string =>
  joinKey(FEEDBACK_PREFIX, `model=${encodeURIComponent(model)}/`);

/** The conflict a repeated label meets: the same words from either ledger. */
function alreadyLabelled(r: Pick<LabelRecord, 'answer_id' | 'index'>): ProjectError {
  return new ProjectError(
    'CONFLICT',
    `image ${r.index} of answer ${r.answer_id} already has a label: a label counts once`,
    { subject: 'feedback_id' },
  );
}

/** Labels in the object store: `<prefix>model=<m>/version=<v>/date=<answer day>/<answer_id>-<index>.json`. */
export class StoreLedger implements LabelLedger {
  readonly shared = true;
  readonly #store: ObjectStore;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(store: ObjectStore, bucket: string, prefix = FEEDBACK_PREFIX) {
    this.#store = store;
    this.#bucket = bucket;
    this.#prefix = prefix;
  }

  /** The key of a label: a function of the feedback id and index alone, so every replica picks the same. */
  key(r: Pick<LabelRecord, 'model' | 'version' | 'answered_at' | 'answer_id' | 'index'>): string {
    return joinKey(
      this.#prefix,
      `model=${encodeURIComponent(r.model)}/version=${encodeURIComponent(r.version)}/date=${day(r.answered_at)}/${r.answer_id}-${r.index}.json`,
    );
  }

  async record(r: LabelRecord): Promise<void> {
    try {
      await this.#store.put({ bucket: this.#bucket, key: this.key(r) }, `${JSON.stringify(r)}\n`, {
        contentType: 'application/json',
        ifNoneMatch: true,
      });
    } catch (e) {
      if (e instanceof ProjectError && e.code === 'CONFLICT') throw alreadyLabelled(r);
      throw e;
    }
  }

  async *list(): AsyncIterable<LabelRecord> {
    for await (const o of this.#store.list({ bucket: this.#bucket, key: this.#prefix })) {
      if (!o.key.endsWith('.json')) continue;
      const bytes = await this.#store.getBytes(o.url);
      yield JSON.parse(Buffer.from(bytes).toString('utf8')) as LabelRecord;
    }
  }
}

/**
 * Labels in this process's memory: at most `capacity`, none older than the
 * feedback TTL (an id that old is refused anyway, so forgetting it cannot
 * count a label twice). Past `capacity` the oldest is forgotten, and a repeat
 * of it would count again: size `capacity` for the labels of one TTL.
 */
export class MemoryLedger implements LabelLedger {
  readonly shared = false;
  readonly #labels = new Map<string, LabelRecord>();
  readonly #config: Pick<FeedbackConfig, 'capacity' | 'ttlMs'>;
  readonly #now: () => number;

  constructor(config: Pick<FeedbackConfig, 'capacity' | 'ttlMs'>, now: () => number = Date.now) {
    this.#config = config;
    this.#now = now;
  }

  get size(): number {
    return this.#labels.size;
  }

  async record(r: LabelRecord): Promise<void> {
    const key = `${r.answer_id}/${r.index}`;
    if (this.#labels.has(key)) throw alreadyLabelled(r);
    this.#labels.set(key, r);
    const oldest = this.#now() - this.#config.ttlMs;
    for (const [k, v] of this.#labels) {
      if (this.#labels.size <= this.#config.capacity && Date.parse(v.answered_at) >= oldest) break;
      this.#labels.delete(k);
    }
  }

  async *list(): AsyncIterable<LabelRecord> {
    yield* [...this.#labels.values()];
  }
}

interface RememberedImage {
  bytes: Uint8Array;
  contentType: string;
}

/**
 * The images of recent answers, in memory, for the export when there is no
 * object store (with one, the export reads the captured images instead):
 * at most `capacity` answers, `maxBytes` of images and `ttlMs` of age,
 * oldest evicted first.
 */
export class RecentImages {
  readonly #answers = new Map<
    string,
    { at: number; images: (RememberedImage | undefined)[]; bytes: number }
  >();
  readonly #config: Pick<FeedbackConfig, 'capacity' | 'maxBytes' | 'ttlMs'>;
  readonly #now: () => number;
  #bytes = 0;

  constructor(config: Pick<FeedbackConfig, 'capacity' | 'maxBytes' | 'ttlMs'>, now: () => number = Date.now) {
    this.#config = config;
    this.#now = now;
  }

  get enabled(): boolean {
    return this.#config.capacity > 0;
  }

  /** Answers remembered now, and their image bytes. */
  get size(): { answers: number; bytes: number } {
    this.#expire();
    return { answers: this.#answers.size, bytes: this.#bytes };
  }

  /** Remember the images of an answer (an image over the whole budget is not kept). */
  remember(answerId: string, images: RememberedImage[]): void {
    if (this.#config.capacity === 0) return;
    const kept = images.map((i) => (i.bytes.byteLength <= this.#config.maxBytes ? i : undefined));
    const bytes = kept.reduce((n, i) => n + (i?.bytes.byteLength ?? 0), 0);
    this.#answers.set(answerId, { at: this.#now(), images: kept, bytes });
    this.#bytes += bytes;
    this.#expire();
    for (const [id] of this.#answers) {
      if (this.#answers.size <= this.#config.capacity && this.#bytes <= this.#config.maxBytes) break;
      this.#drop(id);
    }
  }

  get(answerId: string, index: number): RememberedImage | undefined {
    this.#expire();
    return this.#answers.get(answerId)?.images[index];
  }

  #drop(id: string): void {
    const a = this.#answers.get(id);
    if (!a) return;
    this.#bytes -= a.bytes;
    this.#answers.delete(id);
  }

  #expire(): void {
    const oldest = this.#now() - this.#config.ttlMs;
    for (const [id, a] of this.#answers) {
      if (a.at >= oldest) break;
      this.#drop(id);
    }
  }
}

/** The last `size` outcomes of one model version: live accuracy over a sliding window. */
export class AccuracyWindow {
  readonly #size: number;
  readonly #outcomes: boolean[] = [];
  #correct = 0;

  constructor(size: number) {
    this.#size = size;
  }

  add(correct: boolean): number {
    this.#outcomes.push(correct);
    if (correct) this.#correct++;
    if (this.#outcomes.length > this.#size && this.#outcomes.shift()) this.#correct--;
    return this.accuracy;
  }

  get samples(): number {
    return this.#outcomes.length;
  }

  get accuracy(): number {
    return this.#outcomes.length ? this.#correct / this.#outcomes.length : Number.NaN;
  }
}
