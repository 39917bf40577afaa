/**
 * Live accuracy from ground-truth feedback, end to end: a real Prometheus
 * (Debian package) scrapes a running server, loads monitoring/rules, and its
 * recording rule serving:live_accuracy:window reads back the share of correct
 * answers that POST /feedback reported.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  prometheusInstalled,
  type RunningPrometheus,
  startPrometheus,
} from '../testing/monitoring/prometheus.ts';
import { needs } from '../testing/services.ts';
import { FIXTURE_LABELS, shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';
import { listYamlFiles } from './rules.ts';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const prometheus = prometheusInstalled();
const { describe } = needs(prometheus);

describe('live accuracy in Prometheus', () => {
  let fixture: Awaited<ReturnType<typeof tempFixture>>;
  let server: TestServer;
  let prom: RunningPrometheus;
  const job = 'model-server';
  beforeAll(async () => {
    fixture = await tempFixture();
    server = await startTestServer(fixture);
    prom = await startPrometheus({
      binary: prometheus.path,
      targets: [{ job, address: server.url.replace('http://', ''), labels: { namespace: 'test' } }],
      ruleFiles: await listYamlFiles(join(ROOT, 'monitoring', 'rules')),
    });
  });
  afterAll(async () => {
    await prom?.stop();
    await server?.close();
    await fixture?.cleanup();
  });

  test('serving:live_accuracy:window is the share of correct answers people reported', async () => {
    await prom.waitFor(`up{job="${job}"}`, (s) => s[0]?.value[1] === '1');
    // 20 answers; feedback says 15 of them were right and 5 wrong: live accuracy 0.75.
    for (let i = 0; i < 20; i++) {
      const shape = FIXTURE_LABELS[i % FIXTURE_LABELS.length]!;
      const res = await fetch(`${server.url}/predict`, {
        method: 'POST',
        body: shapePng(shape),
        headers: { 'content-type': 'image/png' },
      });
      const answer = (await res.json()) as { feedback_id: string; predictions: { label: string }[] };
      const predicted = answer.predictions[0]!.label;
      const label = i < 15 ? predicted : FIXTURE_LABELS.find((l) => l !== predicted)!;
      const fb = await fetch(`${server.url}/feedback`, {
        method: 'POST',
        body: JSON.stringify({ feedback_id: answer.feedback_id, label }),
        headers: { 'content-type': 'application/json' },
      });
      expect(fb.status).toBe(200);
    }
    const [window] = await prom.waitFor(
      `serving:live_accuracy:window{job="${job}"}`,
      (s) => s[0]?.value[1] === '0.75',
    );
    expect(window!.metric).toMatchObject({
      namespace: 'test',
      model: 'demo-classifier',
      version: fixture.pin.version,
    });
    const [samples] = await prom.waitFor(
      `serving:live_accuracy_samples:window{job="${job}"}`,
      (s) => s[0]?.value[1] === '20',
    );
    expect(samples!.value[1]).toBe('20');
    const confusion = await prom.waitFor(
      `sum(serving_feedback_confusion_total{job="${job}"})`,
      (s) => s[0]?.value[1] === '20',
    );
    expect(confusion[0]!.value[1]).toBe('20');
  });
});
