/**
 * A real Prometheus (Debian package) on loopback scrapes a running server
 * (the fixture model with a real drift reference), loads monitoring/rules,
 * and answers through its HTTP API: the request counter, a recording rule,
 * the drift gauges, and the drift alert going pending once traffic shifts.
 *
 * Nothing here depends on the machine being idle: the traffic is sent in
 * steps, each after Prometheus has scraped the counter at its last value, so
 * the counter moves between scrapes (a `rate()` over a counter that only ever
 * showed one value is 0); every wait counts scrape/evaluation intervals
 * (testing/monitoring/prometheus.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { writeDriftFixture } from '../testing/monitoring/drift-fixture.ts';
import { sendTraffic } from '../testing/monitoring/drift-traffic.ts';
import {
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { startTestServer, type TestServer } from '../testing/serving/harness.ts';
import { listYamlFiles } from './rules.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const prometheus = prometheusInstalled();
const { describe } = needs(prometheus);
/** sendTraffic posts batches of this many images: one request each. */
const BATCH = 50;

describe('Prometheus scraping a running server', () => {
  let dir: string;
  let server: TestServer;
  let prom: RunningPrometheus;
  const job = 'model-server';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prometheus-scrape-'));
    const fixture = await writeDriftFixture(dir, 1000);
    server = await startTestServer(fixture, {
      SERVING_DRIFT_WINDOW_SIZE: '300',
      SERVING_DRIFT_MIN_SAMPLES: '100',
    });
    prom = await startPrometheus({
      binary: prometheus.path,
      targets: [{ job, address: server.url.replace('http://', ''), labels: { namespace: 'test' } }],
      ruleFiles: await listYamlFiles(join(ROOT, 'monitoring', 'rules')),
    });
  });
  afterAll(async () => {
    await prom?.stop();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The scraped count of answered /predict requests reaches `n`. */
  const requestsScraped = (n: number) =>
    prom.waitFor(
      `sum(serving_http_requests_total{job="${job}", route="/predict", code="200"})`,
      (s) => s[0]?.value[1] === String(n),
    );

  test('the target is up and the request counter reads back through /api/v1/query', async () => {
    const [up] = await prom.waitFor(`up{job="${job}"}`, (s) => s[0]?.value[1] === '1');
    expect(up!.metric).toMatchObject({ job, namespace: 'test' });
    // One request, scraped, then five more: the counter shows two values in two scrapes, whatever the load.
    await sendTraffic(server.url, BATCH, 7);
    await requestsScraped(1);
    await sendTraffic(server.url, 5 * BATCH, 8);
    const [requests] = await requestsScraped(6);
    expect(requests!.value[1]).toBe('6'); // 300 images in batches of 50
    const [predictions] = await prom.waitFor(
      `sum(serving_predictions_total{job="${job}"})`,
      (s) => s[0]?.value[1] === '300',
    );
    expect(predictions!.value[1]).toBe('300');
  });

  test('a recording rule of monitoring/rules is evaluated over the scraped series', async () => {
    const [ratio] = await prom.waitFor(`instance:serving_inference_queue:saturation_ratio{job="${job}"}`);
    // Depth over capacity (256) as last scraped: a share, labelled with the scraped instance.
    expect(ratio!.metric).toMatchObject({
      job,
      namespace: 'test',
      instance: server.url.replace('http://', ''),
    });
    expect(Number(ratio!.value[1])).toBeGreaterThanOrEqual(0);
    expect(Number(ratio!.value[1])).toBeLessThanOrEqual(1);
    // Above 0 because the counter moved between two scrapes (the test above); evaluated within an interval or two.
    const [rate] = await prom.waitFor(
      `namespace_job:serving_http_requests:rate5m{job="${job}"}`,
      (s) => Number(s[0]?.value[1]) > 0,
    );
    expect(rate!.metric).toEqual({
      __name__: 'namespace_job:serving_http_requests:rate5m',
      namespace: 'test',
      job,
    });
  });

  test('in distribution: drift gauges under the alert thresholds, no drift alert', async () => {
    const samples = await prom.waitFor(
      `serving_drift_window_samples{job="${job}"}`,
      (s) => s[0]?.value[1] === '300',
    );
    expect(samples).toHaveLength(1);
    const scores = await prom.waitFor(`serving_drift_score{job="${job}"}`, (s) => s.length === 6);
    for (const s of scores) expect(Number(s.value[1])).toBeLessThan(s.metric.method === 'psi' ? 0.2 : 0.1);
    // A scrape of a half-filled window (on a loaded machine, before the 300 samples) can leave
    // an alert pending until the next rule evaluation: wait for the rules to see these scores.
    const drift = 'ALERTS{alertname=~"ServingFeatureDrift|ServingDriftDisabled"}';
    await prom.waitFor(drift, (s) => s.length === 0).catch(() => undefined);
    expect(await prom.query(drift)).toEqual([]);
    const [enabled] = await prom.query(`serving_drift_enabled{job="${job}"}`);
    expect(enabled!.value[1]).toBe('1');
  });

  test('brighter traffic: the gauges cross the thresholds and ServingFeatureDrift goes pending', async () => {
    await sendTraffic(server.url, 300, 11, { brightnessShift: 60 });
    // The window fills with shifted images over a few scrapes: wait until the score is far past the 0.2 threshold.
    const over = await prom.waitFor(
      `serving_drift_score{job="${job}", feature="brightness", method="psi"} > 1`,
      (s) => s.length === 1,
    );
    expect(Number(over[0]!.value[1])).toBeGreaterThan(1);
    const pending = await prom.waitFor(
      'ALERTS{alertname="ServingFeatureDrift", feature="brightness", method="psi"}',
      (s) => s.length === 1,
    );
    // `for: 30m`: pending now, firing after 30 minutes of drift (the promtool test covers firing).
    expect(pending[0]!.metric).toMatchObject({
      alertstate: 'pending',
      severity: 'warning',
      job,
      namespace: 'test',
    });
  });
});
