/**
 * The CIFAR-10 benchmark's report (bench/training/cifar10.ts): time to each
 * target accuracy from the per-epoch points, and the table with both sides
 * and their ratios. (The benchmark itself is never run as a test.)
 */
import { describe, expect, it } from '@jest/globals';
import { type EpochPoint, markdown, type SideReport, timeToTargets } from './cifar10.ts';

const point = (epoch: number, elapsedSeconds: number, testAccuracy: number): EpochPoint => ({
  epoch,
  elapsedSeconds,
  cpuSeconds: elapsedSeconds * 1.5,
  trainSeconds: elapsedSeconds / epoch,
  loss: 1,
  valAccuracy: testAccuracy,
  testAccuracy,
});

describe('cifar10 benchmark report', () => {
  it('takes the first epoch at or over each target, null when never reached', () => {
    const epochs = [point(1, 100, 0.7), point(2, 200, 0.86), point(3, 300, 0.85), point(4, 400, 0.9)];
    expect(timeToTargets(epochs)).toEqual({ '0.85': 200, '0.9': 400 });
    expect(timeToTargets(epochs.slice(0, 3))).toEqual({ '0.85': 200, '0.9': null });
  });

  it('prints both sides, the ratios of their times, and epochs side by side', () => {
    const side = (s: 'tfjs' | 'keras', scale: number): SideReport => {
      const epochs = [point(1, 100 * scale, 0.8), point(2, 200 * scale, 0.88), point(3, 300 * scale, 0.91)];
      return {
        side: s,
        detail: s,
        dataSeconds: 10,
        epochs,
        testAccuracyFlipTTA: 0.92,
        finalTestAccuracy: 0.91,
        timeTo: timeToTargets(epochs),
      };
    };
    const md = markdown({
      meta: { date: 'd', cpus: '2 x cpu', memoryGiB: 24, node: '24', loadAverage: '1' },
      recipe: 'r',
      sides: [side('tfjs', 2), side('keras', 1)],
    });
    expect(md).toContain('| time to 85 % test accuracy | 400 s (6.7 min) | 200 s (3.3 min) | 2.00x |');
    expect(md).toContain('| time to 90 % test accuracy | 600 s (10.0 min) | 300 s (5.0 min) | 2.00x |');
    expect(md).toContain('| 3 | 600 s | 900 s (15.0 min) | 91.00 % | 300 s | 450 s (7.5 min) | 91.00 % |');
    expect(md).toContain(
      "| training CPU time, all epochs (an idle machine's wall time is about this / its cores) | 900 s (15.0 min) | 450 s (7.5 min) | 2.00x |",
    );
    expect(md).toContain('eval-time figure');
  });
});
