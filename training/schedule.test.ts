import { describe, expect, it } from '@jest/globals';
import { learningRateAt, learningRateAtStep } from './schedule.ts';

const spec = { learningRate: 0.01, warmupEpochs: 2, epochs: 10, schedule: 'cosine' as const };

describe('learningRateAt', () => {
  it('grows linearly during warm-up and reaches the base rate at its last epoch', () => {
    expect(learningRateAt(0, spec)).toBeCloseTo(0.005, 12);
    expect(learningRateAt(1, spec)).toBeCloseTo(0.01, 12);
  });

  it('follows a half cosine after warm-up: full rate first, half at the middle, never 0 in the run', () => {
    expect(learningRateAt(2, spec)).toBeCloseTo(0.01, 12);
    // t = (6 - 2) / 8 = 0.5 → half the rate
    expect(learningRateAt(6, spec)).toBeCloseTo(0.005, 12);
    const last = learningRateAt(9, spec);
    expect(last).toBeGreaterThan(0);
    expect(last).toBeCloseTo((0.01 * (1 + Math.cos((Math.PI * 7) / 8))) / 2, 12);
    for (let e = 2; e < 9; e++) expect(learningRateAt(e + 1, spec)).toBeLessThan(learningRateAt(e, spec));
  });

  it('keeps the base rate with the constant schedule, after the same warm-up', () => {
    const c = { ...spec, schedule: 'constant' as const };
    expect(learningRateAt(0, c)).toBeCloseTo(0.005, 12);
    expect([2, 5, 9].map((e) => learningRateAt(e, c))).toEqual([0.01, 0.01, 0.01]);
  });

  it('starts at the full rate without warm-up', () => {
    expect(learningRateAt(0, { ...spec, warmupEpochs: 0 })).toBe(0.01);
  });

  it('one-cycle: per step from 0.2 of the rate up to the rate at 23 % of the run, down to 0.07 at its last step', () => {
    const oc = { learningRate: 0.4, warmupEpochs: 0, epochs: 10, schedule: 'one-cycle' as const };
    const steps = 100; // per epoch: 1000 steps, the last is 999
    expect(learningRateAtStep(0, steps, oc)).toBeCloseTo(0.08, 12);
    expect(learningRateAtStep(0.23 * 999, steps, oc)).toBeCloseTo(0.4, 12);
    expect(learningRateAtStep(999, steps, oc)).toBeCloseTo(0.028, 12);
    expect(learningRateAtStep((0.23 * 999) / 2, steps, oc)).toBeCloseTo(0.08 + 0.5 * 0.32, 12);
    // Its own shape, and per epoch (learningRateAt) the rate of the epoch's first step.
    const custom = { ...oc, oneCycle: { start: 0, peakAt: 0.5, end: 0 } };
    expect(learningRateAtStep(0, steps, custom)).toBe(0);
    expect(learningRateAtStep(999, steps, custom)).toBeCloseTo(0, 12);
    expect(learningRateAt(3, { ...oc, epochs: 5 })).toBeCloseTo(
      learningRateAtStep(3, 1, { ...oc, epochs: 5 }),
      12,
    );
    // The per-epoch schedules keep one rate for all the steps of an epoch.
    expect(learningRateAtStep(250, steps, spec)).toBe(learningRateAt(2, spec));
  });
});
