/**
 * Test helper: a real Prometheus (Debian package binary /usr/bin/prometheus)
 * on a free loopback port, with a generated configuration that scrapes the
 * given targets and loads the given rule files, queried through its HTTP API
 * (https://prometheus.io/docs/prometheus/latest/querying/api/).
 * Each instance has its own temporary data folder, removed by `stop()`.
 *
 * Waits are counted in scrape/evaluation intervals, never in fixed sleeps: a
 * scraped value is visible after the next scrape, a rule's result after the
 * next evaluation, so `waitFor` polls at a fraction of the interval and gives
 * up after {@link WAIT_INTERVALS} intervals (room for a loaded machine, where
 * Prometheus's own scrapes and evaluations run late).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { queryInstant, type VectorSample } from '../../monitoring/prometheus-api.ts';
import { ProjectError } from '../../platform/index.ts';
import { freePort } from '../ports.ts';

export type { VectorSample };

import { type Requirement, tool } from '../services.ts';

const INSTALL = 'install Debian package prometheus: bash scripts/setup.d/50-prometheus.sh';
/** The Prometheus server binary, as tests need it: `needs(prometheusInstalled())`. */
export const prometheusInstalled = (): Requirement => tool('/usr/bin/prometheus', INSTALL);
/** promtool (same Debian package), as tests need it: `needs(promtoolInstalled())`. */
export const promtoolInstalled = (): Requirement => tool('promtool', INSTALL);

/** How many scrape/evaluation intervals {@link RunningPrometheus.waitFor} waits at most by default. */
export const WAIT_INTERVALS = 60;

export interface ScrapeTarget {
  /** The `job` label, e.g. `model-server`. */
  job: string;
  /** host:port, loopback only, e.g. `127.0.0.1:8080`. */
  address: string;
  /** Default `/metrics`. */
  metricsPath?: string;
  /** Extra target labels, e.g. `{ namespace: 'dev' }`. */
  labels?: Record<string, string>;
}

export interface StartPrometheusOptions {
  /** Path of the prometheus binary (default /usr/bin/prometheus). */
  binary?: string;
  /** Targets to scrape; `selfScrape: true` adds Prometheus' own /metrics as job `prometheus`. */
  targets?: ScrapeTarget[];
  selfScrape?: boolean;
  /** Rule files to load (e.g. monitoring/rules/*.yaml). */
  ruleFiles?: string[];
  /** scrape_interval (and scrape_timeout) in milliseconds (default 1000). */
  scrapeIntervalMs?: number;
  /** evaluation_interval of the rules in milliseconds (default: the scrape interval). */
  evaluationIntervalMs?: number;
  /** How long to wait for /-/ready (default 30 s). */
  readyTimeoutMs?: number;
}

export interface RunningPrometheus {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** The configured scrape_interval and evaluation_interval, in milliseconds. */
  scrapeIntervalMs: number;
  evaluationIntervalMs: number;
  /** Instant query; throws a ProjectError naming the query when Prometheus answers an error. */
  query(expr: string): Promise<VectorSample[]>;
  /**
   * Poll `expr` (every quarter of the shorter interval) until `accept` holds
   * for its samples (default: at least one sample); returns them. Gives up
   * after `intervals` (default {@link WAIT_INTERVALS}) of the longer interval.
   */
  waitFor(
    expr: string,
    accept?: (s: VectorSample[]) => boolean,
    options?: { intervals?: number },
  ): Promise<VectorSample[]>;
  /**
   * Replace the scrape targets (the rules and intervals stay) and reload the
   * configuration (POST /-/reload); resolves once Prometheus has taken it.
   */
  setTargets(targets: ScrapeTarget[]): Promise<void>;
  /** Everything Prometheus logged so far (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

/** The prometheus.yml for the given options (https://prometheus.io/docs/prometheus/latest/configuration/configuration/). */
export function prometheusConfig(options: StartPrometheusOptions, selfAddress: string): string {
  const { scrapeIntervalMs, evaluationIntervalMs } = intervalsOf(options);
  const targets = [...(options.targets ?? [])];
  if (options.selfScrape) targets.push({ job: 'prometheus', address: selfAddress });
  for (const t of targets) {
    if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/.test(t.address)) {
      throw new ProjectError(
        'INVALID',
        `scrape target ${t.address} of job ${t.job} is not a loopback address`,
        {
          subject: t.address,
          hint: 'tests scrape only 127.0.0.1, localhost or [::1]',
        },
      );
    }
  }
  return stringify({
    global: {
      scrape_interval: `${scrapeIntervalMs}ms`,
      scrape_timeout: `${scrapeIntervalMs}ms`,
      evaluation_interval: `${evaluationIntervalMs}ms`,
    },
    rule_files: options.ruleFiles ?? [],
    // One scrape config per job and path (Prometheus refuses two of one job name),
    // one static config per target, with its own labels.
    scrape_configs: [...new Set(targets.map((t) => t.job))].map((job) => {
      const ofJob = targets.filter((t) => t.job === job);
      const paths = new Set(ofJob.map((t) => t.metricsPath ?? '/metrics'));
      if (paths.size > 1)
        throw new ProjectError('INVALID', `scrape targets of job ${job} have different metrics paths`, {
          subject: job,
        });
      return {
        job_name: job,
        metrics_path: [...paths][0],
        static_configs: ofJob.map((t) => ({
          targets: [t.address],
          ...(t.labels ? { labels: t.labels } : {}),
        })),
      };
    }),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function intervalsOf(options: StartPrometheusOptions): {
  scrapeIntervalMs: number;
  evaluationIntervalMs: number;
} {
  const scrapeIntervalMs = options.scrapeIntervalMs ?? 1000;
  const evaluationIntervalMs = options.evaluationIntervalMs ?? scrapeIntervalMs;
  for (const [name, ms] of Object.entries({ scrapeIntervalMs, evaluationIntervalMs })) {
    if (!Number.isInteger(ms) || ms < 1) {
      throw new ProjectError('INVALID', `${name} ${ms} is not a whole number of milliseconds >= 1`, {
        subject: name,
      });
    }
  }
  return { scrapeIntervalMs, evaluationIntervalMs };
}

/** Start Prometheus; resolves when /-/ready answers 200. */
export async function startPrometheus(options: StartPrometheusOptions = {}): Promise<RunningPrometheus> {
  const binary = options.binary ?? '/usr/bin/prometheus';
  const { scrapeIntervalMs, evaluationIntervalMs } = intervalsOf(options);
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-test-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const url = `http://${address}`;
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, prometheusConfig(options, address));
  let output = '';
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=${address}`,
      '--web.enable-lifecycle',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  let exited: number | null | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code) => {
      exited = code;
      resolve();
    });
    child.once('error', (e) => {
      output += String(e);
      exited = -1;
      resolve();
    });
  });

  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited !== undefined) {
      await rm(dir, { recursive: true, force: true });
      throw new ProjectError('UNAVAILABLE', `${binary} exited (${exited}) before it was ready:\n${output}`, {
        subject: binary,
      });
    }
    const ok = await fetch(`${url}/-/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new ProjectError('UNAVAILABLE', `Prometheus at ${url} not ready in time:\n${output}`, {
        subject: url,
      });
    }
    await sleep(200);
  }

  const query = (expr: string): Promise<VectorSample[]> => queryInstant({ url }, expr);

  const waitFor = async (
    expr: string,
    accept = (s: VectorSample[]) => s.length > 0,
    { intervals = WAIT_INTERVALS }: { intervals?: number } = {},
  ) => {
    const until = Date.now() + intervals * Math.max(scrapeIntervalMs, evaluationIntervalMs);
    const poll = Math.min(scrapeIntervalMs, evaluationIntervalMs) / 4;
    let last: VectorSample[] = [];
    for (;;) {
      last = await query(expr);
      if (accept(last)) return last;
      if (Date.now() > until) {
        throw new ProjectError(
          'UNAVAILABLE',
          `Prometheus query ${expr} did not give the expected result within ${intervals} intervals`,
          {
            subject: expr,
            details: last,
          },
        );
      }
      await sleep(poll);
    }
  };

  const setTargets = async (targets: ScrapeTarget[]): Promise<void> => {
    await writeFile(configFile, prometheusConfig({ ...options, targets }, address));
    const res = await fetch(`${url}/-/reload`, { method: 'POST' });
    if (!res.ok) {
      throw new ProjectError(
        'UNAVAILABLE',
        `Prometheus at ${url} refused the new configuration: ${res.status} ${await res.text()}`,
        {
          subject: configFile,
        },
      );
    }
  };

  return {
    url,
    port,
    scrapeIntervalMs,
    evaluationIntervalMs,
    query,
    waitFor,
    setTargets,
    logs: () => output,
    stop,
  };
}
