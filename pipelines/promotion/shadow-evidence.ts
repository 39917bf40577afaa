/**
 * The shadow gate's evidence (environments/promotion-gates.json `shadow`,
 * docs/promotion.md "Shadow evidence"): what the champion of an environment
 * counted while it mirrored its traffic to the candidate (serving/shadow.ts),
 * read from Prometheus over the gate's window:
 *
 *   images  serving_shadow_images_total{namespace="ml-<env>", model, shadow_version=<candidate>}
 *   agree   the same with outcome="agree"
 *   labels  serving_shadow_feedback_total{namespace="ml-<env>", model, version=<candidate>}
 *   correct the same with outcome="correct"
 *
 * each counted over the window per series as
 * `clamp_min(max_over_time(S[w]) - S offset w, 0) or max_over_time(S[w])`:
 * what it grew by since the window began, and all of it for a series born
 * within the window (a pod's first label counts, where `increase()` would
 * start from the first sample it saw and miss it). A pod restarted within
 * the window counts only up to its highest value: the evidence can be under
 * what the servers counted, never over.
 */
import {
  type PrometheusConfig,
  prometheusConfigFromEnv,
  type QueryOptions,
  queryInstant,
} from '../../monitoring/prometheus-api.ts';
import { ProjectError } from '../../platform/errors.ts';
import type { ShadowGate } from './config.ts';

/** What Prometheus counted for one candidate shadowing in one environment. */
export interface ShadowEvidence {
  images: number;
  agree: number;
  labels: number;
  correct: number;
}

export interface ShadowQuery {
  /** The environment whose champion mirrored (namespace ml-<env>). */
  env: string;
  model: string;
  /** The candidate, as the challenger. */
  version: string;
  window: string;
}

export type ShadowReader = (q: ShadowQuery) => Promise<ShadowEvidence>;

/** The PromQL of each number of {@link ShadowEvidence}. */
export function shadowQueries(q: ShadowQuery): Record<keyof ShadowEvidence, string> {
  const sel = (extra: Record<string, string>) =>
    Object.entries({ namespace: `ml-${q.env}`, model: q.model, ...extra })
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',');
  const grown = (series: string) =>
    `sum(clamp_min(max_over_time(${series}[${q.window}]) - ${series} offset ${q.window}, 0) or max_over_time(${series}[${q.window}]))`;
  const images = { shadow_version: q.version };
  const labels = { version: q.version };
  return {
    images: grown(`serving_shadow_images_total{${sel(images)}}`),
    agree: grown(`serving_shadow_images_total{${sel({ ...images, outcome: 'agree' })}}`),
    labels: grown(`serving_shadow_feedback_total{${sel(labels)}}`),
    correct: grown(`serving_shadow_feedback_total{${sel({ ...labels, outcome: 'correct' })}}`),
  };
}

/**
 * A reader over Prometheus (PROMETHEUS_URL, PROMETHEUS_TOKEN of `env`, read
 * when the gate runs); UNAVAILABLE naming the variable when it is not set.
 */
export function prometheusShadowReader(
  env: Record<string, string | undefined>,
  options: QueryOptions = {},
): ShadowReader {
  return async (q) => {
    const prom: PrometheusConfig | undefined = prometheusConfigFromEnv(env);
    if (!prom)
      throw new ProjectError(
        'UNAVAILABLE',
        'the shadow gate reads its evidence from Prometheus: PROMETHEUS_URL is not set',
        {
          subject: 'PROMETHEUS_URL',
          hint: 'set PROMETHEUS_URL (and PROMETHEUS_TOKEN) to the Prometheus that scrapes the model servers',
        },
      );
    const out = { images: 0, agree: 0, labels: 0, correct: 0 };
    for (const [k, expr] of Object.entries(shadowQueries(q)) as [keyof ShadowEvidence, string][]) {
      const v = Number((await queryInstant(prom, expr, options))[0]?.value[1] ?? 0);
      out[k] = Number.isFinite(v) ? v : 0;
    }
    return out;
  };
}

const pct = (x: number) => `${Number((x * 100).toFixed(1))} %`;
const count = (x: number) => String(Math.round(x));

/** The gate's rows: agreement, and live accuracy when the gate asks for labels. */
export async function shadowRows(
  gate: ShadowGate,
  target: { env: string; model: string; version: string },
  read: ShadowReader | undefined,
): Promise<{ gate: string; expected: string; actual: string; pass: boolean }[]> {
  const env = gate.in ?? target.env;
  const name = `shadow in ${env}`;
  const expected = {
    agreement: `>= ${pct(gate.minAgreement)} of >= ${gate.minImages} mirrored images agree (${gate.window})`,
    live: `>= ${pct(gate.minLiveAccuracy ?? 0)} of >= ${gate.minLabels} labels right (${gate.window})`,
  };
  const rows = (actual: (which: 'agreement' | 'live') => { actual: string; pass: boolean }) => [
    { gate: `${name}: agreement`, expected: expected.agreement, ...actual('agreement') },
    ...(gate.minLabels !== undefined
      ? [{ gate: `${name}: live accuracy`, expected: expected.live, ...actual('live') }]
      : []),
  ];
  if (!read) return rows(() => ({ actual: 'no evidence reader', pass: false }));
  let e: ShadowEvidence;
  try {
    e = await read({ env, model: target.model, version: target.version, window: gate.window });
  } catch (err) {
    const why = (err as Error).message.split('\n')[0] ?? String(err);
    return rows(() => ({ actual: `no evidence: ${why}`, pass: false }));
  }
  return rows((which) => {
    if (which === 'agreement') {
      const share = e.images > 0 ? e.agree / e.images : 0;
      return {
        actual: e.images > 0 ? `${pct(share)} of ${count(e.images)} images` : 'no mirrored images',
        pass: e.images >= gate.minImages && share >= gate.minAgreement,
      };
    }
    const share = e.labels > 0 ? e.correct / e.labels : 0;
    return {
      actual: e.labels > 0 ? `${pct(share)} of ${count(e.labels)} labels` : 'no labelled mirrored answers',
      pass: e.labels >= (gate.minLabels ?? 0) && share >= (gate.minLiveAccuracy ?? 0),
    };
  });
}
