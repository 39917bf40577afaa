/**
 * Ground-truth feedback: `POST /feedback` takes the true label of an image
 * this server answered recently, by the answer's `request_id` (and `index`
 * for a list of images). The server remembers its recent answers (top-1
 * label and the image bytes) in bounded memory: at most `capacity` answers,
 * `maxBytes` of images and `ttlMs` of age, oldest evicted first. Accepted
 * feedback counts into `serving_feedback_total` and
 * `serving_feedback_confusion_total`, and a sliding window of the last
 * `window` outcomes gives `serving_live_accuracy`, all per model version;
 * it can be exported, with its images, as new training data
 * (`npm run feedback:export`). Names and thresholds: docs/serving.md.
 */
import { ProjectError } from '../platform/index.ts';

export interface FeedbackConfig {
  /** Answers remembered (0 turns feedback off). */
  capacity: number;
  /** Image bytes remembered, all answers together. */
  maxBytes: number;
  /** How long an answer can be given feedback, in ms. */
  ttlMs: number;
  /** Outcomes in the live-accuracy window. */
  window: number;
  /** Bearer token of `GET /feedback/export`; the export is off without it. */
  exportToken?: string;
}

/** One image of an answer, as remembered. */
interface AnsweredImage {
  predicted: string;
  bytes?: Uint8Array;
  contentType?: string;
  label?: string;
  at?: number;
}

interface Answer {
  version: string;
  at: number;
  images: AnsweredImage[];
  bytes: number;
}

/** What `POST /feedback` answers. */
export interface FeedbackOutcome {
  request_id: string;
  index: number;
  label: string;
  predicted: string;
  correct: boolean;
  version: string;
}

/** One exported feedback: the labelled image and what the model said. */
export interface ExportedFeedback {
  request_id: string;
  index: number;
  label: string;
  predicted: string;
  version: string;
  /** ISO 8601 time the label was given. */
  labelled_at: string;
  content_type: string;
  image_base64: string;
}

/** The answers a server remembers for feedback, bounded in count, bytes and age. */
export class FeedbackStore {
  readonly config: FeedbackConfig;
  readonly #answers = new Map<string, Answer>();
  readonly #now: () => number;
  #bytes = 0;

  constructor(config: FeedbackConfig, now: () => number = Date.now) {
    this.config = config;
    this.#now = now;
  }

  get enabled(): boolean {
    return this.config.capacity > 0;
  }

  /** Answers remembered now, and their image bytes. */
  get size(): { answers: number; bytes: number } {
    this.#expire();
    return { answers: this.#answers.size, bytes: this.#bytes };
  }

  /**
   * Remember an answer: per image its top-1 label and, within the byte
   * budget, its bytes (an image over the whole budget is remembered without
   * them: feedback still counts, the export skips it).
   */
  remember(
    requestId: string,
    version: string,
    images: { predicted: string; bytes?: Uint8Array; contentType?: string }[],
  ): void {
    if (!this.enabled) return;
    this.#drop(requestId);
    const kept = images.map((i) =>
      i.bytes && i.bytes.byteLength <= this.config.maxBytes
        ? { predicted: i.predicted, bytes: i.bytes, contentType: i.contentType ?? 'application/octet-stream' }
        : { predicted: i.predicted },
    );
    const bytes = kept.reduce((n, i) => n + (i.bytes?.byteLength ?? 0), 0);
    this.#answers.set(requestId, { version, at: this.#now(), images: kept, bytes });
    this.#bytes += bytes;
    this.#expire();
    // Oldest first (a Map iterates in insertion order) until both bounds hold.
    for (const [id] of this.#answers) {
      if (this.#answers.size <= this.config.capacity && this.#bytes <= this.config.maxBytes) break;
      this.#drop(id);
    }
  }

  /**
   * Record the true `label` of image `index` of answer `requestId`.
   * @throws NOT_FOUND for an id never answered, evicted or expired; INVALID
   *   for an index the answer does not have; CONFLICT for an image already labelled.
   */
  record(requestId: string, index: number, label: string): FeedbackOutcome {
    this.#expire();
    const answer = this.#answers.get(requestId);
    if (!answer) {
      throw new ProjectError(
        'NOT_FOUND',
        `no recent answer with request_id "${requestId}": it is unknown, or older than ${Math.round(this.config.ttlMs / 1000)} s, or was evicted (this server remembers its last ${this.config.capacity} answers)`,
        {
          subject: 'request_id',
          hint: 'send feedback soon after the answer, with the request_id it returned',
        },
      );
    }
    const image = answer.images[index];
    if (!image) {
      throw new ProjectError(
        'INVALID',
        `request_id "${requestId}" answered ${answer.images.length} image(s); index ${index} is not one of them`,
        { subject: 'index', hint: `index is 0-based, from 0 to ${answer.images.length - 1}` },
      );
    }
    if (image.label !== undefined) {
      throw new ProjectError(
        'CONFLICT',
        `image ${index} of request_id "${requestId}" already has feedback (label "${image.label}")`,
        { subject: 'request_id' },
      );
    }
    image.label = label;
    image.at = this.#now();
    return {
      request_id: requestId,
      index,
      label,
      predicted: image.predicted,
      correct: label === image.predicted,
      version: answer.version,
    };
  }

  /** Every labelled image whose bytes are remembered, oldest answer first. */
  *exported(): Generator<ExportedFeedback> {
    this.#expire();
    for (const [requestId, answer] of this.#answers) {
      for (const [index, image] of answer.images.entries()) {
        if (image.label === undefined || !image.bytes) continue;
        yield {
          request_id: requestId,
          index,
          label: image.label,
          predicted: image.predicted,
          version: answer.version,
          labelled_at: new Date(image.at ?? answer.at).toISOString(),
          content_type: image.contentType ?? 'application/octet-stream',
          image_base64: Buffer.from(image.bytes).toString('base64'),
        };
      }
    }
  }

  #drop(requestId: string): void {
    const answer = this.#answers.get(requestId);
    if (!answer) return;
    this.#bytes -= answer.bytes;
    this.#answers.delete(requestId);
  }

  /** Forget answers older than the TTL (the oldest come first). */
  #expire(): void {
    const oldest = this.#now() - this.config.ttlMs;
    for (const [id, answer] of this.#answers) {
      if (answer.at >= oldest) break;
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
