/**
 * Learning-rate schedules: per epoch, linear warm-up then cosine decay
 * (SGDR without restarts) or constant; per step, one-cycle (a triangle:
 * linear up to the peak, linear down to the end, as the fast CIFAR-10
 * recipes use it).
 *
 * @see https://arxiv.org/abs/1708.07120 one-cycle (Smith & Topin)
 * @see https://arxiv.org/abs/1608.03983 cosine annealing (Loshchilov & Hutter)
 * @see https://arxiv.org/abs/1706.02677 linear warm-up (Goyal et al.)
 */
import type { TrainingSection } from './config.ts';

export type ScheduleSpec = Pick<
  TrainingSection,
  'learningRate' | 'warmupEpochs' | 'epochs' | 'schedule' | 'oneCycle'
>;

/** airbench's triangle: 0.2 of the rate at the start, the full rate at 23 % of the steps, 0.07 at the end. */
export const ONE_CYCLE_DEFAULT = { start: 0.2, peakAt: 0.23, end: 0.07 } as const;

/**
 * The learning rate of 0-based `epoch`. During warm-up it grows linearly
 * from learningRate/(warmupEpochs) to learningRate at epoch warmupEpochs-1;
 * after that it is `learningRate * (1 + cos(pi * t)) / 2` with t going from
 * 0 (first epoch after warm-up) towards 1 (just past the last epoch), so it
 * never reaches 0 within the run; or learningRate for `constant`.
 */
export function learningRateAt(epoch: number, spec: ScheduleSpec): number {
  const { learningRate, warmupEpochs, epochs, schedule } = spec;
  if (schedule === 'one-cycle') return learningRateAtStep(epoch, 1, spec);
  if (epoch < warmupEpochs) return (learningRate * (epoch + 1)) / warmupEpochs;
  if (schedule === 'constant') return learningRate;
  const span = Math.max(1, epochs - warmupEpochs);
  const t = Math.min(1, (epoch - warmupEpochs) / span);
  return (learningRate * (1 + Math.cos(Math.PI * t))) / 2;
}

/**
 * The learning rate of 0-based `step` of a run of `stepsPerEpoch` x epochs
 * steps. One-cycle changes it every step (linear from start x rate at step 0
 * to the rate at peakAt of the run, then linear to end x rate at the last
 * step); the per-epoch schedules keep the rate of the step's epoch.
 */
export function learningRateAtStep(step: number, stepsPerEpoch: number, spec: ScheduleSpec): number {
  if (spec.schedule !== 'one-cycle') return learningRateAt(Math.floor(step / stepsPerEpoch), spec);
  const { start, peakAt, end } = spec.oneCycle ?? ONE_CYCLE_DEFAULT;
  const last = Math.max(1, spec.epochs * stepsPerEpoch - 1);
  const t = Math.min(1, Math.max(0, step / last));
  const factor =
    t <= peakAt
      ? peakAt === 0
        ? 1
        : start + (1 - start) * (t / peakAt)
      : peakAt === 1
        ? 1
        : 1 + (end - 1) * ((t - peakAt) / (1 - peakAt));
  return spec.learningRate * factor;
}
