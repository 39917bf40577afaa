/**
 * The drift-alert relay: Alertmanager's webhook receiver posts its fixed
 * JSON (version "4": status, alerts[], commonLabels, groupKey...), which
 * GitHub's repository_dispatch cannot take; this small HTTP handler turns a
 * firing drift alert into `POST /repos/{o}/{r}/dispatches` with
 * `{ event_type: "drift-alert", client_payload: { alerts, groupKey, externalURL } }`,
 * which starts drift.yml. Resolved notifications and other alerts are
 * acknowledged and dropped. A GitHub failure answers 502, so Alertmanager
 * retries the notification. Every POST must carry the shared secret
 * (`Authorization: Bearer <token>`, what Alertmanager's webhook `http_config.authorization`
 * sends): anything else is 401, compared in constant time.
 * @see https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
 * @see https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isProjectError, ProjectError } from '../platform/errors.ts';
import type { GithubApi } from '../platform/github/client.ts';
import { sendRepositoryDispatch } from '../platform/github/pulls.ts';
import { compileValidator } from '../platform/schema.ts';

/** The drift alerts of monitoring/rules/model-drift.yaml that start a retrain. */
export const DRIFT_ALERTS = [
  'ServingFeatureDrift',
  'ServingPredictionDrift',
  'ServingConfidenceDrop',
] as const;
/** The relay's image name in manifests/alert-relay (its kustomization `images:` entry pins it by digest). */
export const RELAY_IMAGE_NAME = 'ghcr.io/OWNER/alert-relay';
/** The repository_dispatch type drift.yml listens on. */
export const DRIFT_EVENT_TYPE = 'drift-alert';

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
  eventType?: string;
  /** Side effect: send the dispatch (default the GitHub REST call). */
  dispatch?: (eventType: string, payload: Record<string, unknown>) => Promise<void>;
  log?: (line: string) => void;
  /** Largest accepted body (default 1 MiB). */
  maxBodyBytes?: number;
}

export interface RelayOutcome {
  dispatched: boolean;
  alerts: string[];
  reason?: string;
}

/** What to dispatch for one webhook body (pure): the firing drift alerts, or why nothing. */
export function dispatchFor(
  body: AlertmanagerWebhook,
  alertNames: readonly string[],
): RelayOutcome & { payload?: Record<string, unknown> } {
  if (body.status !== 'firing') return { dispatched: false, alerts: [], reason: 'resolved notification' };
  const firing = body.alerts.filter(
    (a) => a.status === 'firing' && alertNames.includes(a.labels.alertname ?? ''),
  );
  if (!firing.length) return { dispatched: false, alerts: [], reason: 'no firing drift alert' };
  const alerts = firing.map((a) => ({
    alertname: a.labels.alertname,
    ...(a.annotations?.summary ? { summary: a.annotations.summary } : {}),
    labels: a.labels,
    startsAt: a.startsAt,
  }));
  return {
    dispatched: true,
    alerts: [...new Set(firing.map((a) => a.labels.alertname as string))].sort(),
    // client_payload: at most 10 top-level properties (GitHub's limit); keep it small.
    payload: { alerts: alerts.slice(0, 20), groupKey: body.groupKey, externalURL: body.externalURL ?? '' },
  };
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
  const eventType = options.eventType ?? DRIFT_EVENT_TYPE;
  const dispatch = options.dispatch ?? ((t, p) => sendRepositoryDispatch(options.api, t, p));
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
      if (!out.dispatched || !out.payload) {
        log(`alert relay: ${body.groupKey}: ${out.reason}; nothing sent`);
        return send(res, 200, { dispatched: false, reason: out.reason });
      }
      try {
        await dispatch(eventType, out.payload);
      } catch (e) {
        log(`alert relay: repository_dispatch failed: ${(e as Error).message.split('\n')[0]}`);
        return send(res, 502, { error: (e as Error).message.split('\n')[0] });
      }
      log(`alert relay: sent repository_dispatch "${eventType}" for ${out.alerts.join(', ')}`);
      return send(res, 200, { dispatched: true, eventType, alerts: out.alerts });
    })().catch((e: unknown) => send(res, 500, { error: (e as Error).message }));
  };
}
