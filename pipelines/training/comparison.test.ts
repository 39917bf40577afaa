import { describe, expect, it } from '@jest/globals';
import type { LockedVersion } from '../../lock/index.ts';
import { formatPoints, type GoldenEvaluation } from '../../model/golden/index.ts';
import type { GatesConfig } from '../promotion/config.ts';
import { comparisonMarkdown, formatDelta, pairedMarkdown } from './comparison.ts';
import { pairedPolicyOf, pairedSection } from './paired.ts';

const entry = (metrics: Record<string, number>): LockedVersion => ({
  artifactUri: 'artifacts/x',
  createdAt: '2026-01-01T00:00:00.000Z',
  datasetDigest: `sha256:${'d'.repeat(64)}`,
  digests: {},
  rootDigest: 'r'.repeat(64),
  gitCommit: null,
  metrics,
  mlflow: { runId: null, modelVersion: null },
  paramsDigest: `sha256:${'p'.repeat(64)}`,
});
const perClass = (p: number) => ({
  labels: ['circle', 'square'],
  per_class: {
    circle: { precision: p, recall: 1, f1: 0.9, support: 10 },
    square: { precision: 1, recall: p, f1: 0.8, support: 12 },
  },
});

describe('comparisonMarkdown', () => {
  it('formats deltas with their sign', () => {
    expect(formatDelta('accuracy', 0.97, 0.958)).toBe('+0.012');
    expect(formatDelta('accuracy', 0.95, 0.954)).toBe('-0.004');
    expect(formatDelta('accuracy', 0.95, 0.95)).toBe('±0.000');
    expect(formatDelta('samples', 200, 180)).toBe('+20');
    expect(formatDelta('accuracy', 0.9, undefined)).toBe('–');
  });

  it('puts the candidate beside prod with deltas and per-class changes', () => {
    const md = comparisonMarkdown({
      model: 'demo',
      candidate: {
        version: '3',
        entry: entry({ accuracy: 0.97, macro_f1: 0.96, samples: 180 }),
        metricsJson: perClass(0.9),
      },
      prod: {
        version: '2',
        entry: entry({ accuracy: 0.958, macro_f1: 0.961, samples: 180 }),
        metricsJson: perClass(0.85),
      },
      plots: [{ label: 'confusion matrix', url: 'http://mlflow/x.png' }],
    });
    expect(md).toContain('| metric | candidate (3) | prod (2) | delta |');
    expect(md).toContain('| accuracy | 0.9700 | 0.9580 | +0.012 |');
    expect(md).toContain('| macro_f1 | 0.9600 | 0.9610 | -0.001 |');
    expect(md).toContain('| samples | 180 | 180 | ±0 |');
    expect(md).toContain('| circle | 0.900 | +0.050 | 1.000 | ±0.000 | 0.900 | ±0.000 | 10 |');
    expect(md).toContain('Plots: [confusion matrix](http://mlflow/x.png)');
    expect(md.indexOf('accuracy')).toBeLessThan(md.indexOf('macro_f1'));
  });
});

describe('the golden-set section (champion vs challenger)', () => {
  const labels = ['circle', 'square'];
  const truth = Array.from({ length: 200 }, (_, i) => i % 2);
  const wrongAt = (idx: number[]) => truth.map((t, i) => (idx.includes(i) ? 1 - t : t));
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const golden = (predicted: number[], champion?: number[]): GoldenEvaluation => ({
    goldenVersion: 1,
    name: 'shapes-golden',
    digest: `sha256:${'0'.repeat(64)}`,
    orderDigest: `sha256:${'9'.repeat(64)}`,
    labels,
    truth,
    predicted,
    championEnv: 'prod',
    ...(champion
      ? { champion: { version: 'v222222222222', rootDigest: '2'.repeat(64), predicted: champion } }
      : {}),
  });
  const gates: GatesConfig = {
    gatesVersion: 1,
    environments: {
      dev: { source: 'newest', gates: { pairedNonInferiority: [{ vs: 'prod', margin: 0.02, alpha: 0.05 }] } },
      prod: {
        source: 'staging',
        gates: { pairedNonInferiority: [{ vs: 'prod', margin: 0.01, alpha: 0.05 }] },
      },
    },
  };
  const policy = pairedPolicyOf(gates, 'prod', 'environments/promotion-gates.json');

  it('takes margin and level from the gate of prod itself, and says where from', () => {
    expect(policy).toEqual({
      margin: 0.01,
      alpha: 0.05,
      source: 'pairedNonInferiority vs prod of environment prod in `environments/promotion-gates.json`',
    });
    expect(pairedPolicyOf(undefined, 'prod', 'g.json')).toEqual({
      margin: 0.01,
      alpha: 0.05,
      source: 'the default (`g.json` has no pairedNonInferiority gate against prod)',
    });
  });

  it('shows the golden set, both accuracies, discordant pairs, test, bound, margin, verdict and per-class deltas', () => {
    // champion wrong at 0..15 (184/200); candidate fixes 0..9 and breaks 100..101 (192/200)
    const section = pairedSection(
      golden(wrongAt([...range(10, 16), 100, 101]), wrongAt(range(0, 16))),
      'prod',
      'v222222222222',
      policy,
    );
    expect(section.kind).toBe('compared');
    const md = comparisonMarkdown({
      model: 'demo',
      candidate: { version: 'v111111111111', entry: entry({ accuracy: 0.97 }) },
      prod: { version: 'v222222222222', entry: entry({ accuracy: 0.98 }) },
      paired: section,
    });
    expect(md).toContain(
      `Golden set **shapes-golden** (\`sha256:${'0'.repeat(64)}\`, n = 200), scored in this run by the candidate and by **v222222222222**, the version pinned in prod: the same examples for both.`,
    );
    expect(md).toContain('| prod (v222222222222) | 0.9200 | 184/200 |');
    expect(md).toContain('| candidate (v111111111111) | 0.9600 | 192/200 |');
    expect(md).toContain(
      "Discordant pairs: **10** fixed by the candidate (prod wrong, candidate right), **2** broken (prod right, candidate wrong). McNemar's exact test (two-sided): p = 0.0386 (mid-p 0.0225).",
    );
    const r = (section as Extract<typeof section, { kind: 'compared' }>).result;
    expect(md).toContain(
      `Δ accuracy +4.0 pt; one-sided 95% lower bound ${formatPoints(r.lowerBound)} (exact, conditional on the discordant pairs); margin 1 pt, from pairedNonInferiority vs prod of environment prod in \`environments/promotion-gates.json\`.`,
    );
    expect(md).toContain(
      `**Verdict: not worse than prod by more than 1 pt (one-sided 95% bound ${formatPoints(r.lowerBound)}).**`,
    );
    expect(md).toContain('| class | n | prod | candidate | Δ | fixed | broken |');
    // circle: even indices; champion wrong at 0,2,..,14 (8), candidate at 10,12,14,100 (4)
    expect(md).toContain('| circle | 100 | 0.920 | 0.960 | +4.0 pt | 5 | 1 |');
    expect(md).toContain('| square | 100 | 0.920 | 0.960 | +4.0 pt | 5 | 1 |');
    // the paired section comes first; the test-split table is labelled as such
    expect(md.indexOf('#### Champion vs challenger')).toBeLessThan(
      md.indexOf("#### Metrics on each model's own test split"),
    );
    expect(md.indexOf("#### Metrics on each model's own test split")).toBeLessThan(md.indexOf('| metric |'));
  });

  it('says when the candidate is refused, when there is no champion, and when they cannot be paired', () => {
    const worse = pairedSection(golden(wrongAt(range(0, 30)), truth), 'prod', 'v222222222222', policy);
    expect(pairedMarkdown(worse, 'v1').join('\n')).toMatch(
      /\*\*Verdict: not shown to be within 1 pt of prod \(one-sided 95% bound −[0-9.]+ pt, needs above −1 pt\)\.\*\* The promotion gate pairedNonInferiority refuses it\./,
    );
    expect(pairedMarkdown(pairedSection(golden(truth), 'prod', undefined, policy), 'v1')).toContain(
      `Not compared: no champion: nothing is pinned in prod yet, so there is nothing to compare with on the golden set **shapes-golden** (\`sha256:000000000000…\`, n = 200); the gate passes with "no champion".`,
    );
    expect(pairedMarkdown(pairedSection(golden(truth), 'prod', 'v333333333333', policy), 'v1')).toContain(
      'Not compared: prod (v333333333333) not compared on the golden set **shapes-golden** (`sha256:000000000000…`, n = 200): v333333333333 has no predictions on golden set shapes-golden sha256:000000000000… (no golden.json in its artifact); its run scored no champion.',
    );
    expect(pairedMarkdown(pairedSection(undefined, 'prod', 'v3', policy), 'v1')).toContain(
      'Not compared: the candidate was not scored on a golden set: the training config has no `golden` section, so the promotion gate pairedNonInferiority will refuse it.',
    );
  });
});
