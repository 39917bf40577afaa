/**
 * The soak window against a real Prometheus (Debian package,
 * testing/monitoring/prometheus.ts) whose rules fire alerts with the repo's
 * SLO and drift alert names in several namespaces and for several versions:
 * only the environment's namespace and the version under test count, the
 * soak fails at the first check that sees one, a quiet window passes, and a
 * Prometheus that does not answer is an error, not a quiet window.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../testing/gitops/repo.ts';
import {
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from '../../testing/monitoring/prometheus.ts';
import { needs } from '../../testing/services.ts';
import { alertNamesOf, SOAK_RULE_FILES, soak } from './soak.ts';

const V_BAD = 'v0123456789ab';
const V_OTHER = 'vba9876543210';

const withPrometheus = needs(prometheusInstalled());
withPrometheus.describe('soak against a real Prometheus', () => {
  let dir: string;
  let prom: RunningPrometheus;
  let defaults: string[];
  /** The defaults plus the drift alerts, as with `--soak-rules` naming model-drift.yaml too. */
  let alertNames: string[];

  beforeAll(async () => {
    defaults = await alertNamesOf(SOAK_RULE_FILES.map((f) => join(REPO_ROOT, f)));
    alertNames = await alertNamesOf(
      [...SOAK_RULE_FILES, 'monitoring/rules/model-drift.yaml'].map((f) => join(REPO_ROOT, f)),
    );
    dir = await mkdtemp(join(tmpdir(), 'soak-'));
    const rules = join(dir, 'rules.yaml');
    // The repo's alert names, made to fire at once: in ml-dev for the version under test and for
    // another version, in ml-staging with no version label; one alert not watched fires in ml-prod.
    await writeFile(
      rules,
      `groups:
  - name: soak-test
    rules:
      - alert: ServingErrorBudgetBurnFast
        expr: vector(1)
        labels: { namespace: ml-dev, job: model-server, severity: critical }
      - alert: ServingPredictionDrift
        expr: vector(1)
        labels: { namespace: ml-dev, version: ${V_OTHER}, severity: warning }
      - alert: ServingFeatureDrift
        expr: vector(1)
        labels: { namespace: ml-staging, feature: brightness, severity: warning }
      - alert: ServingPodRestarting
        expr: vector(1)
        labels: { namespace: ml-prod, severity: warning }
`,
    );
    prom = await startPrometheus({ ruleFiles: [rules] });
    await prom.waitFor('ALERTS{alertstate="firing"}', (s) => s.length >= 4);
  }, 60_000);
  afterAll(async () => {
    await prom?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the default rule files are the SLO alerts: not drift, which anonymous inputs can move', () => {
    expect(defaults).toEqual(
      expect.arrayContaining(['ServingErrorBudgetBurnFast', 'ServingLatencyBudgetBurnFast']),
    );
    expect(defaults).not.toContain('ServingFeatureDrift');
    expect(defaults).not.toContain('ServingPredictionDrift');
    expect(defaults).not.toContain('ServingPodRestarting');
    expect(alertNames).toEqual(expect.arrayContaining(['ServingFeatureDrift', 'ServingPredictionDrift']));
  });

  it('fails at the first check that sees an alert of the namespace for this version (or none), naming it', async () => {
    const log: string[] = [];
    const result = await soak(
      {
        prometheus: { url: prom.url },
        env: 'dev',
        version: V_BAD,
        alertNames,
        durationMs: 600_000,
        intervalMs: 1000,
      },
      { log: (l) => log.push(l) },
    );
    expect(result).toMatchObject({ ok: false, checks: 1, env: 'dev', version: V_BAD });
    // Another version's alert in the same namespace does not count; the per-namespace one does.
    expect(result.firing.map((l) => l.alertname)).toEqual(['ServingErrorBudgetBurnFast']);
    expect(result.reason).toMatch(
      new RegExp(
        `^soak: 1 alert\\(s\\) firing in ml-dev \\d+s into the 600s soak of version ${V_BAD} \\(Prometheus ${prom.url.replaceAll('.', '\\.')}\\):\n  - ServingErrorBudgetBurnFast \\(job=model-server, namespace=ml-dev, severity=critical\\)$`,
      ),
    );
    expect(result.query).toBe(
      `ALERTS{alertstate="firing",alertname=~"${alertNames.join('|')}",namespace="ml-dev",version=~"|${V_BAD}"}`,
    );
    expect(log[0]).toContain(
      `soak: watching ${alertNames.length} alert(s) on ${prom.url} for 600s (every 1s)`,
    );

    // The other version's own soak sees both ml-dev alerts.
    const other = await soak({
      prometheus: { url: prom.url },
      env: 'dev',
      version: V_OTHER,
      alertNames,
      durationMs: 1000,
    });
    expect(other.firing.map((l) => l.alertname).sort()).toEqual([
      'ServingErrorBudgetBurnFast',
      'ServingPredictionDrift',
    ]);
  });

  it('a window in which no watched alert fires there passes after its last check', async () => {
    // ml-prod has a firing alert, but not one the soak watches.
    const result = await soak({
      prometheus: { url: prom.url },
      env: 'prod',
      version: V_BAD,
      alertNames,
      durationMs: 2500,
      intervalMs: 1000,
    });
    expect(result).toMatchObject({ ok: true, firing: [] });
    expect(result.checks).toBeGreaterThanOrEqual(3);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(2500);
    expect(result.reason).toBeUndefined();
  });

  it('a Prometheus that does not answer is an error, never a quiet window', async () => {
    await expect(
      soak(
        {
          prometheus: { url: 'http://127.0.0.1:9' },
          env: 'dev',
          version: V_BAD,
          alertNames,
          durationMs: 1000,
        },
        { fetch: (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(2000) }) },
      ),
    ).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('Prometheus at http://127.0.0.1:9 does not answer'),
    });
  });
});

describe('alertNamesOf', () => {
  it('names a missing rule file, and a file with no alert', async () => {
    await expect(alertNamesOf(['/nonexistent/rules.yaml'])).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('cannot read rule file /nonexistent/rules.yaml: ENOENT'),
    });
    const dir = await mkdtemp(join(tmpdir(), 'soak-rules-'));
    try {
      const path = join(dir, 'recording.yaml');
      await writeFile(
        path,
        'groups:\n  - name: r\n    rules:\n      - record: a:b\n        expr: vector(1)\n',
      );
      await expect(alertNamesOf([path])).rejects.toMatchObject({
        code: 'INVALID',
        message: `no alerting rule in ${path}: a soak would watch nothing`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
