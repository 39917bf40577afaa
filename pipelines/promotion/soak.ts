/**
 * The soak window after a promotion: once verify-rollout has seen the
 * environment serve its pin, watch Prometheus for a while and fail as soon as
 * one of the model's SLO or drift alerts fires there. An alert counts when it
 * is in the environment's namespace and names no other model version
 * (monitoring/prometheus-api firingAlertsQuery: `namespace="ml-<env>"`,
 * `version=~"|<version>"`). A Prometheus that does not answer is an error
 * (UNAVAILABLE), never read as "no alert": it says nothing about the model,
 * so it fails the check without a revert. See docs/rollout.md "Automatic revert".
 */
import { readFile } from 'node:fs/promises';
import {
  type AlertScope,
  describeAlert,
  firingAlerts,
  firingAlertsQuery,
  type PrometheusConfig,
} from '../../monitoring/prometheus-api.ts';
import { alertingRules, parseRuleFile } from '../../monitoring/rules.ts';
import { type Clock, realClock } from '../../platform/clock.ts';
import { ProjectError } from '../../platform/errors.ts';

/**
 * The rule files whose alerts a soak watches by default: the SLO burn rates,
 * which count only the server's own faults. Not drift: anyone who can send an
 * image can move the drift gauges, so drift opens a retrain
 * (monitoring/alert-relay.ts) and never reverts a version by itself; add
 * `monitoring/rules/model-drift.yaml` with `--soak-rules` where inputs are trusted.
 */
export const SOAK_RULE_FILES = ['monitoring/rules/serving-slo.yaml'];

export interface SoakOptions {
  prometheus: PrometheusConfig;
  env: string;
  /** The version just promoted: alerts labelled with another version do not count. */
  version: string;
  /** Default `ml-<env>`. */
  namespace?: string;
  /** Alert names to watch (alertNamesOf(SOAK_RULE_FILES) by default in the script). */
  alertNames: readonly string[];
  /** How long to watch. */
  durationMs: number;
  /** Time between two queries (default 30 s, at most the duration). */
  intervalMs?: number;
}

export interface SoakDeps extends Partial<Clock> {
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

export interface SoakResult {
  ok: boolean;
  env: string;
  version: string;
  /** The query every check ran. */
  query: string;
  /** The firing alerts (their labels) of the check that failed; empty when ok. */
  firing: Record<string, string>[];
  checks: number;
  elapsedMs: number;
  /** Why the soak failed, one line per firing alert (undefined when ok): what a revert records. */
  reason?: string;
}

/** The alert names of rule files (monitoring/rules parseRuleFile), in file order; NOT_FOUND/INVALID naming the file. */
export async function alertNamesOf(paths: readonly string[]): Promise<string[]> {
  const names: string[] = [];
  for (const path of paths) {
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new ProjectError('NOT_FOUND', `cannot read rule file ${path}: ${e.code ?? e.message}`, {
        subject: path,
        cause: e,
        hint: 'name files of monitoring/rules/ with --soak-rules',
      });
    });
    names.push(...alertingRules([parseRuleFile(path, text)]).map((r) => r.alert));
  }
  if (names.length === 0) {
    throw new ProjectError('INVALID', `no alerting rule in ${paths.join(', ')}: a soak would watch nothing`, {
      subject: paths[0],
    });
  }
  return names;
}

/**
 * Query the firing alerts now and every `intervalMs` until `durationMs` has
 * passed (the last query at the end of the window); resolve at the first
 * check that finds one (ok: false, with the reason), or when the window
 * passed quietly (ok: true). Throws UNAVAILABLE/INVALID from the client.
 */
export async function soak(opts: SoakOptions, deps: SoakDeps = {}): Promise<SoakResult> {
  const sleep = deps.sleep ?? realClock.sleep;
  const now = deps.now ?? realClock.now;
  const namespace = opts.namespace ?? `ml-${opts.env}`;
  const scope: AlertScope = { labels: { namespace }, labelsIfPresent: { version: opts.version } };
  const query = firingAlertsQuery(opts.alertNames, scope);
  const interval = Math.max(1, Math.min(opts.intervalMs ?? 30_000, opts.durationMs || 1));
  const start = now();
  const end = start + opts.durationMs;
  const minutes = (ms: number) => `${Math.round(ms / 1000)}s`;
  deps.log?.(
    `soak: watching ${opts.alertNames.length} alert(s) on ${opts.prometheus.url} for ${minutes(opts.durationMs)} (every ${minutes(interval)}): ${query}`,
  );
  let checks = 0;
  for (;;) {
    checks++;
    const firing = await firingAlerts(opts.prometheus, opts.alertNames, {
      scope,
      fetch: deps.fetch,
    });
    const elapsedMs = now() - start;
    if (firing.length > 0) {
      const lines = firing.map(describeAlert).sort();
      const reason = `soak: ${firing.length} alert(s) firing in ${namespace} ${minutes(elapsedMs)} into the ${minutes(opts.durationMs)} soak of version ${opts.version} (Prometheus ${opts.prometheus.url}):\n${lines.map((l) => `  - ${l}`).join('\n')}`;
      deps.log?.(reason);
      return { ok: false, env: opts.env, version: opts.version, query, firing, checks, elapsedMs, reason };
    }
    const left = end - now();
    if (left <= 0) {
      deps.log?.(`soak: no alert fired in ${minutes(elapsedMs)} (${checks} checks)`);
      return { ok: true, env: opts.env, version: opts.version, query, firing: [], checks, elapsedMs };
    }
    await sleep(Math.min(interval, left));
  }
}
