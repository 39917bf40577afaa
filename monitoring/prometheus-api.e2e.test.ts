/**
 * The Prometheus client against a real Prometheus (Debian package,
 * testing/monitoring/prometheus.ts) with a drift rule that fires: the firing
 * alerts are read from ALERTS, errors name the query and the server.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { DRIFT_ALERTS } from './alert-relay.ts';
import { firingAlerts, firingAlertsQuery, prometheusConfigFromEnv, queryInstant } from './prometheus-api.ts';

const withPrometheus = needs(prometheusInstalled());
withPrometheus.describe('firingAlerts against a real Prometheus', () => {
  let dir: string;
  let prom: RunningPrometheus;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prom-api-'));
    const rules = join(dir, 'rules.yaml');
    // A drift alert that fires at once, one that never does, and another alert that fires (not drift).
    await writeFile(
      rules,
      `groups:
  - name: test
    rules:
      - alert: ServingFeatureDrift
        expr: vector(1)
        labels: { feature: brightness, method: psi, severity: warning }
      - alert: ServingPredictionDrift
        expr: vector(0) > 1
      - alert: ServingNoTraffic
        expr: vector(1)
`,
    );
    prom = await startPrometheus({ ruleFiles: [rules] });
  }, 60_000);
  afterAll(async () => {
    await prom?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('returns the firing drift alerts with their labels, and not the others', async () => {
    await prom.waitFor('ALERTS{alertstate="firing"}', (s) => s.length >= 2);
    const firing = await firingAlerts({ url: prom.url }, DRIFT_ALERTS);
    expect(firing).toEqual([
      {
        __name__: 'ALERTS',
        alertname: 'ServingFeatureDrift',
        alertstate: 'firing',
        feature: 'brightness',
        method: 'psi',
        severity: 'warning',
      },
    ]);
    expect(await firingAlerts({ url: prom.url }, ['ServingPredictionDrift'])).toEqual([]);
  });

  it('names the query of a bad expression, and a server that does not answer', async () => {
    await expect(queryInstant({ url: prom.url }, 'rate(')).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringContaining(`Prometheus query rate( on ${prom.url} failed: HTTP 400`),
    });
    await expect(
      queryInstant({ url: 'http://127.0.0.1:9' }, 'up', { timeoutMs: 2000 }),
    ).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('Prometheus at http://127.0.0.1:9 does not answer'),
    });
  });
});

describe('configuration and query text', () => {
  it('reads PROMETHEUS_URL once; the token becomes a header', () => {
    expect(prometheusConfigFromEnv({})).toBeUndefined();
    expect(prometheusConfigFromEnv({ PROMETHEUS_URL: 'http://prom:9090/' })).toEqual({
      url: 'http://prom:9090',
    });
    expect(
      prometheusConfigFromEnv({ PROMETHEUS_URL: 'https://prom', PROMETHEUS_TOKEN: 't' })?.authorization,
    ).toBe('Bearer t');
    expect(() => prometheusConfigFromEnv({ PROMETHEUS_URL: 'https://u:secret@' })).toThrow(
      /PROMETHEUS_URL .* is not a URL/,
    );
    expect(() => prometheusConfigFromEnv({ PROMETHEUS_URL: 'https://u:secret@' })).not.toThrow(/secret/);
  });

  it.each([
    ['https://ops:p%40ss-6@prom.example.com', 'https://prom.example.com/'],
    ['https://ops@prom.example.com:9090', 'https://prom.example.com:9090/'],
    ['https://prom.example.com/?token=p-ss-6', 'https://prom.example.com/?token=***'],
  ])(
    'regression (issue 23): credentials in the plain variable PROMETHEUS_URL (%s) are refused, naming the secret to use',
    (raw, shown) => {
      let error: unknown;
      try {
        prometheusConfigFromEnv({ PROMETHEUS_URL: raw, PROMETHEUS_TOKEN: 'tok-1' });
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({
        code: 'USAGE',
        subject: 'PROMETHEUS_URL',
        message: `PROMETHEUS_URL ${shown} carries credentials (user:password@ or a secret query parameter); PROMETHEUS_URL is a plain variable that anyone who reads the settings or a log can see\n  → remove the credentials from PROMETHEUS_URL, rotate them, and give a bearer token as the PROMETHEUS_TOKEN secret`,
        hint: 'remove the credentials from PROMETHEUS_URL, rotate them, and give a bearer token as the PROMETHEUS_TOKEN secret',
      });
      expect(
        JSON.stringify({ m: (error as Error).message, h: (error as { hint?: string }).hint }),
      ).not.toMatch(/p-ss-6|p%40ss|p@ss/);
    },
  );

  it('selects firing alerts by name, escaping regex characters', () => {
    expect(firingAlertsQuery(['A', 'B.c'])).toBe('ALERTS{alertstate="firing",alertname=~"A|B\\\\.c"}');
  });
});
