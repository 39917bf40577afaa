/**
 * Online drift end to end: the fixture artifact with a real reference
 * (model/drift/reference.ts on seeded images), booted like main.ts, fed
 * through /predict. In-distribution traffic stays under the thresholds;
 * brighter, noisier and another class mix cross them. A missing or malformed
 * reference turns drift off, and serving carries on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { DriftResult } from '../../model/drift/index.ts';
import { replaceArtifactFile, writeDriftFixture } from '../../testing/monitoring/drift-fixture.ts';
import { sendTraffic } from '../../testing/monitoring/drift-traffic.ts';
import { startTestServer, type TestServer } from '../../testing/serving/harness.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'drift-e2e-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const driftOf = async (s: TestServer) =>
  (await (await fetch(`${s.url}/api/drift`)).json()) as DriftResult & { enabled: boolean };
const gauge = async (s: TestServer, name: string) => (await s.registry.getSingleMetric(name)!.get()).values;

describe('a server with reference statistics', () => {
  let server: TestServer;
  beforeAll(async () => {
    const fixture = await writeDriftFixture(join(root, 'ok'), 1000);
    // PSI over a few hundred images is noisy (about 0.05-0.1 in distribution here), so this
    // window scores at 0.2, the alert rules' "significant" level, rather than Evidently's 0.1.
    server = await startTestServer(fixture, {
      SERVING_DRIFT_WINDOW_SIZE: '300',
      SERVING_DRIFT_PSI_THRESHOLD: '0.2',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  test('a window with too few samples has no score, not a false alarm', async () => {
    await sendTraffic(server.url, 20, 500, { brightnessShift: 120 });
    const d = await driftOf(server);
    expect(d).toMatchObject({ enabled: true, samples: 20, scored: false, drifted: [] });
    expect(await gauge(server, 'serving_drift_score')).toEqual([]);
    expect((await gauge(server, 'serving_drift_prediction_psi'))[0]!.value).toBeNaN();
    expect((await gauge(server, 'serving_drift_enabled'))[0]!.value).toBe(1);
  });

  test('in-distribution traffic stays under every threshold', async () => {
    await sendTraffic(server.url, 300, 7);
    const d = await driftOf(server);
    expect(d.samples).toBe(300);
    expect(d.scored).toBe(true);
    expect(d.drifted).toEqual([]);
    for (const f of d.features) expect(f.psi!).toBeLessThan(0.2);
    const scores = await gauge(server, 'serving_drift_score');
    expect(scores.map((s) => `${s.labels.feature}/${s.labels.method}`).sort()).toEqual([
      'brightness/ks',
      'brightness/psi',
      'channel_mean_0/ks',
      'channel_mean_0/psi',
      'contrast/ks',
      'contrast/psi',
    ]);
    for (const s of scores) expect(s.value).toBeLessThan(s.labels.method === 'psi' ? 0.2 : 0.1);
    expect((await gauge(server, 'serving_drift_window_samples'))[0]!.value).toBe(300);
  });

  test.each([
    ['brighter', { brightnessShift: 60 }, ['brightness', 'channel_mean_0']],
    ['noisier', { noise: 70 }, ['contrast']],
    ['another class mix', { mix: { cross: 1 } }, ['brightness', 'channel_mean_0']],
  ] as const)('%s traffic crosses the thresholds', async (_name, dist, features) => {
    await sendTraffic(server.url, 300, 11, dist);
    const d = await driftOf(server);
    expect(d.drifted).toEqual(expect.arrayContaining([...features]));
    for (const name of features) {
      const f = d.features.find((x) => x.feature === name)!;
      expect(f.psi!).toBeGreaterThan(0.2);
    }
    // Back to the training distribution: the window forgets the shift.
    await sendTraffic(server.url, 300, 13);
    expect((await driftOf(server)).drifted).toEqual([]);
  });
});

describe('a server whose reference statistics are unusable', () => {
  test.each([
    ['missing', undefined, /the artifact has no reference-stats.json/],
    [
      'malformed',
      '{"version": 1, "inputs": {}}',
      /reference-stats.json is invalid:\n.*\n {2}- \/inputs: missing required field "samples"/,
    ],
  ] as const)(
    '%s: drift off with serving_drift_enabled 0 and a warning, predictions still served',
    async (name, content, why) => {
      const fixture = await replaceArtifactFile(
        await writeDriftFixture(join(root, name), 50),
        'reference-stats.json',
        content,
      );
      const server = await startTestServer(fixture);
      try {
        await sendTraffic(server.url, 10, 3);
        expect((await gauge(server, 'serving_drift_enabled'))[0]!.value).toBe(0);
        expect(await gauge(server, 'serving_drift_score')).toEqual([]);
        const d = await driftOf(server);
        expect(d.enabled).toBe(false);
        expect((d as unknown as { reason: string }).reason).toMatch(why);
        const warning = server.logger.lines.find(
          (l) => l.level === 'warn' && String(l.msg).startsWith('drift monitoring disabled'),
        );
        expect(warning).toBeDefined();
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        expect(metrics).toMatch(/^serving_predictions_total\{.*\} \d+$/m);
      } finally {
        await server.close();
      }
    },
  );
});
