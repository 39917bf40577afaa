/**
 * A small client of Prometheus' HTTP API: instant queries
 * (https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries)
 * and the alerts that are firing, read from the `ALERTS` series Prometheus keeps
 * for every pending and firing alert
 * (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/#inspecting-alerts-during-runtime).
 * The scheduled retrain asks it whether drift fires (pipelines/training
 * retrainIfDrift); the tests' Prometheus helper queries through it too.
 */
import { ProjectError } from '../platform/errors.ts';
import { hasCredentials, safeUrl } from '../platform/redact.ts';

/** Where Prometheus is, parsed once at the edge (PROMETHEUS_URL, PROMETHEUS_TOKEN). */
export interface PrometheusConfig {
  /** Base URL, e.g. http://prometheus.monitoring.svc:9090 (never with credentials). */
  url: string;
  /** Authorization header value (`Bearer <PROMETHEUS_TOKEN>`); never printed. */
  authorization?: string;
}

/**
 * PROMETHEUS_URL and PROMETHEUS_TOKEN; undefined when PROMETHEUS_URL is not
 * set. The workflows read PROMETHEUS_URL from a repository variable, which
 * every reader of the repository's settings and every job's log can see, so
 * a URL that carries credentials (`user:password@`, `?token=`) is refused
 * (USAGE): the credential goes in the PROMETHEUS_TOKEN secret.
 */
export function prometheusConfigFromEnv(
  env: Record<string, string | undefined>,
): PrometheusConfig | undefined {
  const raw = env.PROMETHEUS_URL?.trim();
  if (!raw) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ProjectError('USAGE', `PROMETHEUS_URL ${safeUrl(raw)} is not a URL`, {
      subject: 'PROMETHEUS_URL',
      hint: 'set it to the server, e.g. http://prometheus.monitoring.svc:9090',
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ProjectError('USAGE', `PROMETHEUS_URL ${safeUrl(raw)} is not http(s)`, {
      subject: 'PROMETHEUS_URL',
    });
  }
  if (hasCredentials(raw)) {
    throw new ProjectError(
      'USAGE',
      `PROMETHEUS_URL ${safeUrl(raw)} carries credentials (user:password@ or a secret query parameter); PROMETHEUS_URL is a plain variable that anyone who reads the settings or a log can see`,
      {
        subject: 'PROMETHEUS_URL',
        hint: 'remove the credentials from PROMETHEUS_URL, rotate them, and give a bearer token as the PROMETHEUS_TOKEN secret',
      },
    );
  }
  return {
    url: u.toString().replace(/\/+$/, ''),
    ...(env.PROMETHEUS_TOKEN ? { authorization: `Bearer ${env.PROMETHEUS_TOKEN}` } : {}),
  };
}

/** One sample of an instant vector, as /api/v1/query returns it. */
export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface QueryOptions {
  fetch?: typeof fetch;
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

/** Run an instant query; the result must be a vector. UNAVAILABLE when Prometheus does not answer, INVALID for a bad query. */
export async function queryInstant(
  prom: PrometheusConfig,
  expr: string,
  options: QueryOptions = {},
): Promise<VectorSample[]> {
  const url = `${prom.url}/api/v1/query?${new URLSearchParams({ query: expr })}`;
  let res: Response;
  try {
    res = await (options.fetch ?? fetch)(url, {
      headers: prom.authorization ? { authorization: prom.authorization } : {},
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (e) {
    throw new ProjectError(
      'UNAVAILABLE',
      `Prometheus at ${prom.url} does not answer (${(e as Error).message})`,
      {
        subject: prom.url,
        hint: 'check PROMETHEUS_URL and that this runner can reach it',
        cause: e,
      },
    );
  }
  const body = (await res.json().catch(() => undefined)) as
    | { status?: string; error?: string; data?: { resultType: string; result: VectorSample[] } }
    | undefined;
  if (!res.ok || body?.status !== 'success' || !body.data) {
    const denied = res.status === 401 || res.status === 403;
    const code = res.status === 400 || res.status === 422 ? 'INVALID' : 'UNAVAILABLE';
    throw new ProjectError(
      code,
      `Prometheus query ${expr} on ${prom.url} failed: HTTP ${res.status}${body?.error ? `: ${body.error}` : ''}`,
      {
        subject: expr,
        ...(denied
          ? {
              hint: 'check the PROMETHEUS_TOKEN secret (a bearer token Prometheus, or the proxy in front of it, accepts)',
            }
          : {}),
      },
    );
  }
  if (body.data.resultType !== 'vector') {
    throw new ProjectError(
      'INVALID',
      `Prometheus query ${expr} gave a ${body.data.resultType}, not a vector`,
      {
        subject: expr,
      },
    );
  }
  return body.data.result;
}

/** A label value as a PromQL string literal. */
const literal = (s: string) => JSON.stringify(s);
/** `s` as a regular expression that matches it literally (RE2 syntax). */
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Which alert series count, beyond their names (label names as Prometheus allows them). */
export interface AlertScope {
  /** label → value the alert must carry, e.g. `{ namespace: 'ml-dev' }`. */
  labels?: Record<string, string>;
  /**
   * label → value the alert must carry when it carries that label at all,
   * e.g. `{ version: 'v5b0e2c41d7a9' }`: an alert about another version does
   * not count, one that names no version (most are per namespace) does.
   */
  labelsIfPresent?: Record<string, string>;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The PromQL that selects the firing alerts among `names`, within `scope`.
 * A matcher `l=~"|v"` also matches a series without the label: Prometheus
 * treats a missing label as the empty string
 * (https://prometheus.io/docs/prometheus/latest/querying/basics/#instant-vector-selectors).
 */
export function firingAlertsQuery(names: readonly string[], scope: AlertScope = {}): string {
  const matchers = [`alertstate="firing"`, `alertname=~${literal(names.map(escapeRe).join('|'))}`];
  for (const [label, value] of Object.entries(scope.labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    matchers.push(`${checkLabel(label)}=${literal(value)}`);
  }
  for (const [label, value] of Object.entries(scope.labelsIfPresent ?? {}).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    matchers.push(`${checkLabel(label)}=~${literal(`|${escapeRe(value)}`)}`);
  }
  return `ALERTS{${matchers.join(',')}}`;
}

function checkLabel(label: string): string {
  if (!LABEL_NAME.test(label)) {
    throw new ProjectError('INVALID', `"${label}" is not a Prometheus label name`, { subject: label });
  }
  return label;
}

/** The alerts among `names` that are firing now (within `scope`), one entry per alert series (its labels). */
export async function firingAlerts(
  prom: PrometheusConfig,
  names: readonly string[],
  options: QueryOptions & { scope?: AlertScope } = {},
): Promise<Record<string, string>[]> {
  return (await queryInstant(prom, firingAlertsQuery(names, options.scope), options)).map((s) => s.metric);
}

/** One firing alert as a line: `Name (label=value, ...)`, the ALERTS bookkeeping labels left out. */
export function describeAlert(labels: Record<string, string>): string {
  const extra = Object.entries(labels)
    .filter(([k]) => !['__name__', 'alertname', 'alertstate'].includes(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${labels.alertname}${extra ? ` (${extra})` : ''}`;
}
