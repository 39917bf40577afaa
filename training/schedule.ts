/**
 * Learning-rate schedules, per epoch: linear warm-up, then cosine decay
 * (SGDR without restarts) or constant.
 *
 * @see https://arxiv.org/abs/1608.03983 cosine annealing (Loshchilov & Hutter)
 * @see https://arxiv.org/abs/1706.02677 linear warm-up (Goyal et al.)
 */
import type { TrainingSection } from './config.ts';

export type ScheduleSpec = Pick<TrainingSection, 'learningRate' | 'warmupEpochs' | 'epochs' | 'schedule'>;

/**
 * The learning rate of 0-based `epoch`. During warm-up it grows linearly
 * from learningRate/(warmupEpochs) to learningRate at epoch warmupEpochs-1;
 * after that it is `learningRate * (1 + cos(pi * t)) / 2` with t going from
 * 0 (first epoch after warm-up) towards 1 (just past the last epoch), so it
 * never reaches 0 within the run; or learningRate for `constant`.
 */
export function learningRateAt(epoch: number, spec: ScheduleSpec): number {
  const { learningRate, warmupEpochs, epochs, schedule } = spec;
  if (epoch < warmupEpochs) return (learningRate * (epoch + 1)) / warmupEpochs;
  if (schedule === 'constant') return learningRate;
  const span = Math.max(1, epochs - warmupEpochs);
  const t = Math.min(1, (epoch - warmupEpochs) / span);
  return (learningRate * (1 + Math.cos(Math.PI * t))) / 2;
}
