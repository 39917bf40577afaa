/**
 * The shadow gate's rows and queries (./shadow-evidence.ts); the gate read
 * from a real Prometheus scraping real servers: scripts/shadow.e2e.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { parseGatesConfig } from './config.ts';
import { prometheusShadowReader, type ShadowEvidence, shadowQueries, shadowRows } from './shadow-evidence.ts';

const target = { env: 'staging', model: 'demo-classifier', version: 'v0123456789ab' };
const gate = { window: '7d', minImages: 100, minAgreement: 0.9, minLabels: 20, minLiveAccuracy: 0.8 };
const reading = (e: ShadowEvidence) => async () => e;

describe('the shadow gate', () => {
  it('passes with enough images that agree and enough labels that the candidate got right', async () => {
    const rows = await shadowRows(
      gate,
      target,
      reading({ images: 412, agree: 390, labels: 31, correct: 27 }),
    );
    expect(rows).toEqual([
      {
        gate: 'shadow in staging: agreement',
        expected: '>= 90 % of >= 100 mirrored images agree (7d)',
        actual: '94.7 % of 412 images',
        pass: true,
      },
      {
        gate: 'shadow in staging: live accuracy',
        expected: '>= 80 % of >= 20 labels right (7d)',
        actual: '87.1 % of 31 labels',
        pass: true,
      },
    ]);
  });

  it('fails on too little evidence as on too low a share, each row on its own', async () => {
    const few = await shadowRows(gate, target, reading({ images: 99, agree: 99, labels: 31, correct: 20 }));
    expect(few.map((r) => [r.actual, r.pass])).toEqual([
      ['100 % of 99 images', false],
      ['64.5 % of 31 labels', false],
    ]);
    const none = await shadowRows(gate, target, reading({ images: 0, agree: 0, labels: 0, correct: 0 }));
    expect(none.map((r) => r.actual)).toEqual(['no mirrored images', 'no labelled mirrored answers']);
  });

  it('asks the environment the gate names, over its window; without labels asked for, one row', async () => {
    let asked: unknown;
    const rows = await shadowRows(
      { in: 'prod', window: '3d', minImages: 1, minAgreement: 0 },
      target,
      async (q) => {
        asked = q;
        return { images: 5, agree: 5, labels: 0, correct: 0 };
      },
    );
    expect(asked).toEqual({ env: 'prod', model: 'demo-classifier', version: 'v0123456789ab', window: '3d' });
    expect(rows.map((r) => r.gate)).toEqual(['shadow in prod: agreement']);
  });

  it('without Prometheus the gate fails saying what to set; the queries select the candidate as the challenger', async () => {
    const rows = await shadowRows(gate, target, prometheusShadowReader({}));
    expect(rows.every((r) => !r.pass)).toBe(true);
    expect(rows[0]?.actual).toBe(
      'no evidence: the shadow gate reads its evidence from Prometheus: PROMETHEUS_URL is not set',
    );
    const q = shadowQueries({ ...target, window: '7d' });
    const images =
      'serving_shadow_images_total{namespace="ml-staging",model="demo-classifier",shadow_version="v0123456789ab"}';
    expect(q.images).toBe(
      `sum(clamp_min(max_over_time(${images}[7d]) - ${images} offset 7d, 0) or max_over_time(${images}[7d]))`,
    );
    expect(q.agree).toContain('shadow_version="v0123456789ab",outcome="agree"}');
    expect(q.labels).toContain(
      'serving_shadow_feedback_total{namespace="ml-staging",model="demo-classifier",version="v0123456789ab"}',
    );
    expect(q.correct).toContain('version="v0123456789ab",outcome="correct"}');
  });

  it('in promotion-gates.json: a window Prometheus reads, labels and live accuracy together', () => {
    const config = (shadow: unknown) => ({
      gatesVersion: 1,
      environments: { staging: { source: 'dev', gates: { shadow } } },
    });
    expect(parseGatesConfig(config(gate), 'g.json').environments.staging?.gates.shadow).toEqual(gate);
    for (const bad of [
      { ...gate, window: '7 days' },
      { ...gate, minAgreement: 1.5 },
      { window: '7d', minImages: 10, minAgreement: 0.9, minLabels: 5 },
    ])
      expect(() => parseGatesConfig(config(bad), 'g.json')).toThrow('g.json');
  });
});
