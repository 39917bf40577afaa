/**
 * Test helper: a real Prometheus (Debian package binary /usr/bin/prometheus)
 * on a free loopback port, with a generated configuration that scrapes the
 * given targets and loads the given rule files, queried through its HTTP API
 * (https://prometheus.io/docs/prometheus/latest/querying/api/).
 * Each instance has its own temporary data folder, removed by `stop()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ProjectError } from '../../lib/index.ts';
import { queryInstant, type VectorSample } from '../prometheus-api.ts';

export type { VectorSample };

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
  /** Scrape and rule evaluation interval (default `1s`). */
  interval?: string;
  /** How long to wait for /-/ready (default 30 s). */
  readyTimeoutMs?: number;
}

export interface RunningPrometheus {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Instant query; throws a ProjectError naming the query when Prometheus answers an error. */
  query(expr: string): Promise<VectorSample[]>;
  /** Poll `expr` until `accept` holds for its samples (default: at least one sample); returns them. */
  waitFor(expr: string, accept?: (s: VectorSample[]) => boolean, timeoutMs?: number): Promise<VectorSample[]>;
  /** Everything Prometheus logged so far (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound and released; Prometheus binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The prometheus.yml for the given options (https://prometheus.io/docs/prometheus/latest/configuration/configuration/). */
export function prometheusConfig(options: StartPrometheusOptions, selfAddress: string): string {
  const interval = options.interval ?? '1s';
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
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: targets.map((t) => ({
      job_name: t.job,
      metrics_path: t.metricsPath ?? '/metrics',
      static_configs: [{ targets: [t.address], ...(t.labels ? { labels: t.labels } : {}) }],
    })),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start Prometheus; resolves when /-/ready answers 200. */
export async function startPrometheus(options: StartPrometheusOptions = {}): Promise<RunningPrometheus> {
  const binary = options.binary ?? '/usr/bin/prometheus';
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

  const waitFor = async (expr: string, accept = (s: VectorSample[]) => s.length > 0, timeoutMs = 30_000) => {
    const until = Date.now() + timeoutMs;
    let last: VectorSample[] = [];
    for (;;) {
      last = await query(expr);
      if (accept(last)) return last;
      if (Date.now() > until) {
        throw new ProjectError(
          'UNAVAILABLE',
          `Prometheus query ${expr} did not give the expected result in time`,
          {
            subject: expr,
            details: last,
          },
        );
      }
      await sleep(250);
    }
  };

  return { url, port, query, waitFor, logs: () => output, stop };
}
