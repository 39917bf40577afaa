/**
 * Shadow traffic (docs/serving.md "Shadow traffic"): a server with
 * `SERVING_SHADOW_URL` (the champion) answers every `/predict` itself and
 * mirrors a sample of the requests' images to the challenger's `/predict`
 * at that URL, off the request path: `/predict` only hands the images over
 * (never awaits the challenger); at most `maxInFlight` mirrored requests run
 * at once, and one more is dropped and counted
 * (`serving_shadow_requests_total{outcome="dropped"}`). A mirrored request
 * carries the champion's request id (`X-Request-Id`: the challenger's own
 * capture records it) and `X-Shadow-Of: <model>/<version>`; a server never
 * mirrors a request that came with that header, so two servers shadowing
 * each other do not loop.
 *
 * What is compared and kept: per image, whether the challenger's top-1
 * class is the champion's (`serving_shadow_images_total{outcome="agree"|
 * "disagree"}`); the pair of answers as a `shadow/v1` record, in the object
 * store (`shadow/v1/model=<m>/version=<champion>/date=<day>/<answer id>.json`,
 * so any replica finds it from a feedback id alone) or, without a store, in
 * this process's memory (bounded). When a label for that answer arrives
 * ({@link Shadow.scoreLabel}, from POST /feedback on any replica), the
 * challenger's answer is scored too:
 * `serving_shadow_feedback_total{version=<challenger>,outcome}`, its live
 * accuracy on labelled requests.
 */

import type { ObjectStore } from '../platform/object-store/index.ts';
import { joinKey } from '../platform/object-store/index.ts';
import type { Logger } from './logger.ts';
import type { ServingMetrics } from './metrics.ts';

export interface ShadowConfig {
  /** The challenger's base URL (SERVING_SHADOW_URL), e.g. http://model-server.ml-dev.svc.cluster.local:8080 */
  url: string;
  /** Share of answers mirrored, 0 to 1 (SERVING_SHADOW_SAMPLE, default 1). */
  sample: number;
  /** Mirrored requests at once at most (SERVING_SHADOW_MAX_IN_FLIGHT, default 8). */
  maxInFlight: number;
  /** How long one mirrored request may take (SERVING_SHADOW_TIMEOUT_MS, default 5000). */
  timeoutMs: number;
}

/** The header of a mirrored request: the champion's model and version. */
export const SHADOW_OF_HEADER = 'x-shadow-of';

export const SHADOW_PREFIX = 'shadow/v1/';

/** One answer and its challenger's answer: the shadow/v1 record. */
export interface ShadowRecord {
  schema: 'shadow/v1';
  answer_id: string;
  request_id: string;
  model: string;
  /** The champion's version (the one that answered the client). */
  version: string;
  shadow_version: string;
  /** ISO 8601 time of the champion's answer. */
  answered_at: string;
  /** The champion's top-1 class per image. */
  predicted: string[];
  /** The challenger's top-1 class per image. */
  shadow_predicted: string[];
  /** Milliseconds the challenger took, mirrored request included. */
  shadow_latency_ms: number;
  pod: string;
}

/** Where shadow records are kept and found again. */
export interface ShadowAnswers {
  remember(r: ShadowRecord): Promise<void>;
  find(
    key: Pick<ShadowRecord, 'model' | 'version' | 'answered_at' | 'answer_id'>,
  ): Promise<ShadowRecord | undefined>;
}

/** The key of a record: a function of the answer alone (the feedback id says all of it). */
export function shadowKey(r: Pick<ShadowRecord, 'model' | 'version' | 'answered_at' | 'answer_id'>): string {
  return joinKey(
    SHADOW_PREFIX,
    `model=${encodeURIComponent(r.model)}/version=${encodeURIComponent(r.version)}/date=${r.answered_at.slice(0, 10)}/${r.answer_id}.json`,
  );
}

/** Records in the object store, shared by every replica. */
export class StoreShadowAnswers implements ShadowAnswers {
  private readonly store: ObjectStore;
  private readonly bucket: string;
  constructor(store: ObjectStore, bucket: string) {
    this.store = store;
    this.bucket = bucket;
  }

  async remember(r: ShadowRecord): Promise<void> {
    try {
      // Written once, as every object of the bucket (docs/capture.md): an answer id is never reused.
      await this.store.put({ bucket: this.bucket, key: shadowKey(r) }, `${JSON.stringify(r)}\n`, {
        contentType: 'application/json',
        ifNoneMatch: true,
      });
    } catch (e) {
      if ((e as { code?: string }).code !== 'CONFLICT') throw e;
    }
  }

  async find(key: Pick<ShadowRecord, 'model' | 'version' | 'answered_at' | 'answer_id'>) {
    try {
      const bytes = await this.store.getBytes({ bucket: this.bucket, key: shadowKey(key) });
      return JSON.parse(Buffer.from(bytes).toString('utf8')) as ShadowRecord;
    } catch (e) {
      if ((e as { code?: string }).code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
}

/** Records in this process's memory: the newest `capacity`, for one replica or a demo. */
export class MemoryShadowAnswers implements ShadowAnswers {
  readonly #records = new Map<string, ShadowRecord>();
  private readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  async remember(r: ShadowRecord): Promise<void> {
    this.#records.set(r.answer_id, r);
    for (const k of this.#records.keys()) {
      if (this.#records.size <= this.capacity) break;
      this.#records.delete(k);
    }
  }

  async find(key: Pick<ShadowRecord, 'answer_id' | 'model' | 'version'>) {
    const r = this.#records.get(key.answer_id);
    return r && r.model === key.model && r.version === key.version ? r : undefined;
  }
}

/** What /predict hands over after answering. */
export interface MirroredAnswer {
  answerId: string;
  requestId: string;
  at: number;
  images: Uint8Array[];
  /** The champion's top-1 class per image. */
  predicted: string[];
}

export interface ShadowOptions {
  config: ShadowConfig;
  answers: ShadowAnswers;
  model: { name: string; version: string };
  pod: string;
  metrics: ServingMetrics;
  logger: Logger;
  random?: () => number;
}

interface ChallengerAnswer {
  version?: unknown;
  predictions?: unknown;
}

/** The top-1 class of each image of a list answer of /predict, or undefined when the answer is not one. */
function topOnes(answer: ChallengerAnswer, images: number): string[] | undefined {
  if (!Array.isArray(answer.predictions) || answer.predictions.length !== images) return undefined;
  const out: string[] = [];
  for (const ranked of answer.predictions) {
    const label = Array.isArray(ranked) ? (ranked[0] as { label?: unknown } | undefined)?.label : undefined;
    if (typeof label !== 'string') return undefined;
    out.push(label);
  }
  return out;
}

/** The shadow of one server process: mirrors answers, compares, keeps the pairs, scores labels. */
export class Shadow {
  readonly #o: ShadowOptions;
  readonly #running = new Set<Promise<void>>();
  /** The challenger's version, once it answered (the label of errors before that: "unknown"). */
  #shadowVersion = 'unknown';

  constructor(o: ShadowOptions) {
    this.#o = o;
  }

  get inFlight(): number {
    return this.#running.size;
  }

  /** Hand an answer over (never throws, never waits): sampled, then mirrored unless too many are running. */
  mirror(a: MirroredAnswer): void {
    const { config, metrics } = this.#o;
    if ((this.#o.random ?? Math.random)() >= config.sample) return;
    if (this.#running.size >= config.maxInFlight) {
      metrics.shadowRequests.inc({ ...this.#labels(), outcome: 'dropped' });
      return;
    }
    const run = this.#send(a).finally(() => {
      this.#running.delete(run);
    });
    this.#running.add(run);
  }

  /** Wait for the mirrored requests running now (shutdown), at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running]),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * A label of image `index` of an answer was recorded (counted once): score the
   * challenger's answer to that image, when one was kept.
   */
  async scoreLabel(l: {
    model: string;
    version: string;
    answered_at: string;
    answer_id: string;
    index: number;
    label: string;
  }): Promise<void> {
    let r: ShadowRecord | undefined;
    try {
      r = await this.#o.answers.find(l);
    } catch (e) {
      this.#o.logger.warn('shadow: the record of a labelled answer could not be read', {
        answer_id: l.answer_id,
        error: (e as Error).message,
      });
      return;
    }
    const predicted = r?.shadow_predicted[l.index];
    if (!r || predicted === undefined) return;
    this.#o.metrics.shadowFeedback.inc({
      model: r.model,
      version: r.shadow_version,
      champion_version: r.version,
      outcome: predicted === l.label ? 'correct' : 'incorrect',
    });
  }

  /**
   * A new challenger version: its series start at 0 now, so that Prometheus'
   * increase() counts from here (a series born with its first count loses it).
   */
  #startSeries(version: string): void {
    const { model, metrics } = this.#o;
    this.#shadowVersion = version;
    const labels = this.#labels();
    for (const outcome of ['agree', 'disagree']) metrics.shadowImages.inc({ ...labels, outcome }, 0);
    for (const outcome of ['correct', 'incorrect'])
      metrics.shadowFeedback.inc({ model: model.name, version, champion_version: model.version, outcome }, 0);
  }

  #labels() {
    const { model } = this.#o;
    return { model: model.name, version: model.version, shadow_version: this.#shadowVersion };
  }

  async #send(a: MirroredAnswer): Promise<void> {
    const { config, metrics, model, logger } = this.#o;
    const started = performance.now();
    let answer: ChallengerAnswer;
    try {
      const res = await fetch(new URL('/predict', config.url), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-request-id': a.requestId,
          [SHADOW_OF_HEADER]: `${model.name}/${model.version}`,
        },
        body: JSON.stringify({ images: a.images.map((b) => Buffer.from(b).toString('base64')) }),
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      answer = (await res.json()) as ChallengerAnswer;
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${JSON.stringify(answer).slice(0, 200)}`);
    } catch (e) {
      metrics.shadowRequests.inc({ ...this.#labels(), outcome: 'error' });
      logger.warn('shadow: the challenger did not answer', {
        url: config.url,
        request_id: a.requestId,
        error: (e as Error).message,
      });
      return;
    }
    const shadowPredicted = topOnes(answer, a.images.length);
    if (typeof answer.version !== 'string' || !shadowPredicted) {
      metrics.shadowRequests.inc({ ...this.#labels(), outcome: 'error' });
      logger.warn('shadow: the challenger answered something else than a /predict list answer', {
        request_id: a.requestId,
      });
      return;
    }
    if (answer.version !== this.#shadowVersion) this.#startSeries(answer.version);
    const labels = this.#labels();
    metrics.shadowRequests.inc({ ...labels, outcome: 'answered' });
    const agree = shadowPredicted.filter((p, i) => p === a.predicted[i]).length;
    metrics.shadowImages.inc({ ...labels, outcome: 'agree' }, agree);
    metrics.shadowImages.inc({ ...labels, outcome: 'disagree' }, shadowPredicted.length - agree);
    const record: ShadowRecord = {
      schema: 'shadow/v1',
      answer_id: a.answerId,
      request_id: a.requestId,
      model: model.name,
      version: model.version,
      shadow_version: answer.version,
      answered_at: new Date(a.at).toISOString(),
      predicted: a.predicted,
      shadow_predicted: shadowPredicted,
      shadow_latency_ms: Math.round(performance.now() - started),
      pod: this.#o.pod,
    };
    try {
      await this.#o.answers.remember(record);
    } catch (e) {
      metrics.shadowRequests.inc({ ...labels, outcome: 'store_error' });
      logger.warn('shadow: the pair of answers could not be kept', {
        answer_id: a.answerId,
        error: (e as Error).message,
      });
    }
  }
}
