/**
 * Feedback ids: the server's, not the client's. Every answer of `/predict`
 * carries a `feedback_id` that the server signs with a key all replicas
 * share (SERVING_ID_KEY, a Secret). The id carries what feedback needs
 * (model, version, per-image top-1 class and sha256, the time of the
 * answer, a random answer id), so ANY replica verifies it and scores a label
 * without shared memory, and an id a client made up or altered is refused.
 *
 *   fb1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(key, "fb1." + payload))>
 *
 * HMAC-SHA256 from node:crypto is a MAC, compared in constant time; nothing
 * here is hand-written cryptography. The id is not secret (the client holds
 * it) and not encrypted: it says nothing the answer does not say already.
 *
 * @see https://www.rfc-editor.org/rfc/rfc2104 HMAC
 * @see https://www.rfc-editor.org/rfc/rfc4648#section-5 base64url
 */
import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { ProjectError } from '../platform/index.ts';

const PREFIX = 'fb1.';

/** What a feedback id says about its answer. */
export interface FeedbackClaims {
  /** Random answer id (128 bits, base64url), unique per answer: the key of its labels. */
  answerId: string;
  /** The request id of the answer (X-Request-Id, possibly client-chosen: for tracing only). */
  requestId: string;
  model: string;
  version: string;
  /** Epoch ms of the answer. */
  at: number;
  /** Top-1 class of each image, in request order. */
  predicted: string[];
  /** sha256 (hex) of each image's bytes, in request order. */
  sha256: string[];
}

interface Payload {
  a: string;
  r: string;
  m: string;
  v: string;
  t: number;
  p: string[];
  h: string[];
}

/** A new answer id: 128 random bits, base64url. */
export function newAnswerId(): string {
  return randomBytes(16).toString('base64url');
}

// A KeyObject, made once: an HMAC keyed with raw bytes costs about 5x more per id (each call imports the key).
const macOf = (key: KeyObject, signed: string): Buffer => createHmac('sha256', key).update(signed).digest();

function invalid(message: string): ProjectError {
  return new ProjectError('INVALID', message, {
    subject: 'feedback_id',
    hint: 'send the feedback_id of a /predict answer as it was given, unchanged',
  });
}

/** Signs and verifies feedback ids with one key (and, during a rotation, accepts the previous one). */
export class FeedbackIds {
  readonly #keys: KeyObject[];
  /** False when the key was made at start-up: ids verify only in this process. */
  readonly shared: boolean;

  /**
   * @param key SERVING_ID_KEY; without it a random key is made, and ids
   *   verify only in this process (one replica, until it restarts).
   * @param previous SERVING_ID_KEY_PREVIOUS: still accepted, never used to sign.
   */
  constructor(key?: string, previous?: string) {
    this.shared = key !== undefined;
    const keys = [key ? Buffer.from(key, 'utf8') : randomBytes(32)];
    if (previous) keys.push(Buffer.from(previous, 'utf8'));
    this.#keys = keys.map((k) => createSecretKey(k));
  }

  sign(c: FeedbackClaims): string {
    const payload: Payload = {
      a: c.answerId,
      r: c.requestId,
      m: c.model,
      v: c.version,
      t: c.at,
      p: c.predicted,
      h: c.sha256,
    };
    const body = `${PREFIX}${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${body}.${macOf(this.#keys[0] as KeyObject, body).toString('base64url')}`;
  }

  /**
   * The claims of a feedback id this service issued.
   * @throws INVALID for a string that is not a feedback id; UNAUTHORIZED for
   *   one whose signature does not verify (made up, altered, or signed with
   *   another key).
   */
  verify(id: string): FeedbackClaims {
    const dot = id.lastIndexOf('.');
    if (!id.startsWith(PREFIX) || dot <= PREFIX.length || !/^[A-Za-z0-9_.-]+$/.test(id)) {
      throw invalid(
        `feedback_id is not a feedback id this service issued (expected fb1.<payload>.<signature>)`,
      );
    }
    const body = id.slice(0, dot);
    const mac = Buffer.from(id.slice(dot + 1), 'base64url');
    const ok = this.#keys.some((k) => {
      const want = macOf(k, body);
      return mac.length === want.length && timingSafeEqual(mac, want);
    });
    if (!ok) {
      throw new ProjectError(
        'UNAUTHORIZED',
        'feedback_id does not carry a valid signature of this service: it was made up, altered, or issued by a server with another SERVING_ID_KEY',
        {
          subject: 'feedback_id',
          hint: 'send the feedback_id of a /predict answer of this deployment, unchanged',
        },
      );
    }
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(body.slice(PREFIX.length), 'base64url').toString('utf8')) as Payload;
    } catch {
      // Signed by us but unreadable: only a bug can get here.
      throw invalid('feedback_id has a valid signature but an unreadable payload');
    }
    return {
      answerId: p.a,
      requestId: p.r,
      model: p.m,
      version: p.v,
      at: p.t,
      predicted: p.p,
      sha256: p.h,
    };
  }
}
