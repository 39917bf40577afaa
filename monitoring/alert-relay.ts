/**
 * The drift-alert relay: Alertmanager's webhook receiver posts its fixed
 * JSON (version "4": status, alerts[], commonLabels, groupKey...), which
 * GitHub cannot take; this small HTTP handler turns a firing drift alert into
 * a workflow_dispatch of drift.yml on `main` (`POST
 * /repos/{o}/{r}/actions/workflows/drift.yml/dispatches` with
 * `{ ref: "main", inputs: { reason } }`), which needs a token with "Actions:
 * write" only: it can start that workflow as `main` has it, and change no code.
 * Resolved notifications and other alerts are acknowledged and dropped. A
 * GitHub failure answers 502, so Alertmanager retries the notification.
 * Every POST must carry the shared secret (`Authorization: Bearer <token>`,
 * what Alertmanager's webhook `http_config.authorization` sends): anything
 * else is 401, compared in constant time. The same firing alerts (group,
 * fingerprints, start times) dispatch once in `replayWindowMs` (default 24 h,
 * the route's repeat_interval): Alertmanager's repeats and a replayed request
 * start nothing more.
 * @see https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
 * @see https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isProjectError, ProjectError } from '../platform/errors.ts';
import type { GithubApi } from '../platform/github/client.ts';
import { sendWorkflowDispatch } from '../platform/github/pulls.ts';
import { compileValidator } from '../platform/schema.ts';

/** The drift alerts of monitoring/rules/model-drift.yaml that start a retrain. */
export const DRIFT_ALERTS = [
  'ServingFeatureDrift',
  'ServingPredictionDrift',
  'ServingConfidenceDrop',
] as const;
/** The relay's image name in manifests/alert-relay (its kustomization `images:` entry pins it by digest). */
export const RELAY_IMAGE_NAME = 'ghcr.io/OWNER/alert-relay';
/** The workflow a drift alert starts, and the ref it runs from (its file as `main` has it). */
export const DRIFT_WORKFLOW = { workflow: 'drift.yml', ref: 'main' } as const;
/** How long the same firing alerts dispatch only once (the retrain route's repeat_interval). */
export const REPLAY_WINDOW_MS = 24 * 3600_000;
/** GitHub's limit for one workflow_dispatch input is 65,535 characters; a reason is a line. */
const MAX_REASON = 1000;

export interface WorkflowDispatch {
  workflow: string;
  ref: string;
  inputs: Record<string, string>;
}

/** Alertmanager's webhook body (version 4). */
export interface AlertmanagerWebhook {
  version: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  truncatedAlerts?: number;
  alerts: {
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
    generatorURL: string;
    fingerprint?: string;
  }[];
}

const labels = { type: 'object', additionalProperties: { type: 'string' } };
const validateWebhook = compileValidator<AlertmanagerWebhook>({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['version', 'status', 'alerts', 'groupKey'],
  properties: {
    version: { const: '4' },
    groupKey: { type: 'string' },
    status: { enum: ['firing', 'resolved'] },
    receiver: { type: 'string' },
    groupLabels: labels,
    commonLabels: labels,
    commonAnnotations: labels,
    externalURL: { type: 'string' },
    alerts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['status', 'labels'],
        properties: { status: { enum: ['firing', 'resolved'] }, labels, annotations: labels },
      },
    },
  },
});

export interface AlertRelayOptions {
  api: GithubApi;
  /** The shared secret Alertmanager sends as `Authorization: Bearer <token>` (read at the edge, never logged). */
  token: string;
  /** Alert names that start a retrain (default DRIFT_ALERTS). */
  alertNames?: readonly string[];
  /** The workflow and ref to dispatch (default DRIFT_WORKFLOW). */
  workflow?: { workflow: string; ref: string };
  /** Side effect: send the dispatch (default the GitHub REST call). */
  dispatch?: (dispatch: WorkflowDispatch) => Promise<void>;
  log?: (line: string) => void;
  /** Largest accepted body (default 1 MiB). */
  maxBodyBytes?: number;
  /** The same firing alerts dispatch once in this window (default REPLAY_WINDOW_MS). */
  replayWindowMs?: number;
  now?: () => number;
}

export interface RelayOutcome {
  dispatched: boolean;
  alerts: string[];
  reason?: string;
}

/** What one notification would dispatch: its alerts, the reason input, and its replay key. */
export interface RelayDispatch extends RelayOutcome {
  dispatched: true;
  /** drift.yml's `reason` input: the alerts' names, namespaces and summaries, one line. */
  inputs: { reason: string };
  /** sha256 of the group key and each firing alert's fingerprint (or labels) and start. */
  key: string;
}

/** What to dispatch for one webhook body (pure): the firing drift alerts, or why nothing. */
export function dispatchFor(
  body: AlertmanagerWebhook,
  alertNames: readonly string[],
): RelayDispatch | (RelayOutcome & { dispatched: false }) {
  if (body.status !== 'firing') return { dispatched: false, alerts: [], reason: 'resolved notification' };
  const firing = body.alerts.filter(
    (a) => a.status === 'firing' && alertNames.includes(a.labels.alertname ?? ''),
  );
  if (!firing.length) return { dispatched: false, alerts: [], reason: 'no firing drift alert' };
  const described = firing.map((a) => {
    const where = a.labels.namespace ? ` (${a.labels.namespace})` : '';
    const summary = a.annotations?.summary ? `: ${a.annotations.summary}` : '';
    return `${a.labels.alertname}${where}${summary}`.replace(/\s+/g, ' ');
  });
  const reason = [...new Set(described)].join('; ');
  const identities = firing
    .map((a) => `${a.fingerprint ?? JSON.stringify(Object.entries(a.labels).sort())}@${a.startsAt}`)
    .sort();
  return {
    dispatched: true,
    alerts: [...new Set(firing.map((a) => a.labels.alertname as string))].sort(),
    inputs: { reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason },
    key: createHash('sha256')
      .update(JSON.stringify([body.groupKey, identities]))
      .digest('hex'),
  };
}

/**
 * Remembers what was dispatched for `windowMs`: a key is taken while its
 * dispatch is in flight (a concurrent copy waits for nothing and sends
 * nothing), kept when it succeeds, and given back when it fails, so
 * Alertmanager's retry dispatches. Bounded: the oldest keys go first.
 */
export class ReplayGuard {
  readonly #until = new Map<string, number>();
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #max: number;
  constructor(windowMs: number, now: () => number = Date.now, max = 10_000) {
    this.#windowMs = windowMs;
    this.#now = now;
    this.#max = max;
  }
  /** True when `key` was free (now taken); false when it was dispatched within the window, or is in flight. */
  take(key: string): boolean {
    const now = this.#now();
    const until = this.#until.get(key);
    if (until !== undefined && until > now) return false;
    this.#until.delete(key);
    this.#until.set(key, now + this.#windowMs);
    for (const [k, t] of this.#until) {
      if (this.#until.size <= this.#max && t > now) break;
      this.#until.delete(k);
    }
    return true;
  }
  /** The dispatch failed: the next copy may try again. */
  release(key: string): void {
    this.#until.delete(key);
  }
}

async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new ProjectError('TOO_LARGE', `webhook body over ${max} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new ProjectError('INVALID', `webhook body is not JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** At least this long: a shared secret that can be guessed is no authentication. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * True when `header` is `Bearer <token>`: both sides are hashed first, so the
 * comparison takes the same time whatever the header (its length included).
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (\S+)$/i.exec(header ?? '')?.[1] ?? '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}

/** A `(req, res)` handler: POST /alerts (Alertmanager webhook, with the shared secret), GET /healthz. */
export function createAlertRelay(
  options: AlertRelayOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (options.token.length < MIN_TOKEN_LENGTH) {
    throw new ProjectError(
      'USAGE',
      `the alert relay's shared secret has ${options.token.length} characters, fewer than ${MIN_TOKEN_LENGTH}`,
      {
        subject: 'ALERT_RELAY_TOKEN',
        hint: 'generate one: openssl rand -hex 32',
      },
    );
  }
  const names = options.alertNames ?? DRIFT_ALERTS;
  const target = options.workflow ?? DRIFT_WORKFLOW;
  const dispatch = options.dispatch ?? ((d) => sendWorkflowDispatch(options.api, d));
  const seen = new ReplayGuard(options.replayWindowMs ?? REPLAY_WINDOW_MS, options.now);
  const log = options.log ?? ((l: string) => console.error(l));
  const send = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(value)}\n`);
  };
  return (req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://relay').pathname;
      if (req.method === 'GET' && path === '/healthz') return send(res, 200, { ok: true });
      if (path !== '/alerts')
        return send(res, 404, { error: `no route ${path}: Alertmanager posts to /alerts` });
      if (req.method !== 'POST') return send(res, 405, { error: 'POST the Alertmanager webhook body' });
      if (!bearerMatches(req.headers.authorization, options.token)) {
        log(`alert relay: refused an unauthenticated POST from ${req.socket.remoteAddress ?? 'unknown'}`);
        req.resume();
        res.setHeader('www-authenticate', 'Bearer realm="alert-relay"');
        return send(res, 401, {
          error: 'authentication required: Authorization: Bearer <the shared secret>',
        });
      }
      let body: AlertmanagerWebhook;
      try {
        body = validateWebhook(
          await readJson(req, options.maxBodyBytes ?? 1 << 20),
          'Alertmanager webhook body',
        );
      } catch (e) {
        const code = isProjectError(e) && e.code === 'TOO_LARGE' ? 413 : 400;
        return send(res, code, { error: (e as Error).message });
      }
      const out = dispatchFor(body, names);
      if (!out.dispatched) {
        log(`alert relay: ${body.groupKey}: ${out.reason}; nothing sent`);
        return send(res, 200, { dispatched: false, reason: out.reason });
      }
      if (!seen.take(out.key)) {
        const reason = 'already dispatched for these firing alerts (a repeat or a replay)';
        log(`alert relay: ${body.groupKey}: ${reason}; nothing sent`);
        return send(res, 200, { dispatched: false, reason });
      }
      try {
        await dispatch({ ...target, inputs: out.inputs });
      } catch (e) {
        seen.release(out.key);
        log(`alert relay: workflow_dispatch failed: ${(e as Error).message.split('\n')[0]}`);
        return send(res, 502, { error: (e as Error).message.split('\n')[0] });
      }
      log(`alert relay: dispatched ${target.workflow} on ${target.ref} for ${out.alerts.join(', ')}`);
      return send(res, 200, { dispatched: true, ...target, alerts: out.alerts });
    })().catch((e: unknown) => send(res, 500, { error: (e as Error).message }));
  };
}
