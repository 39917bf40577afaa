/**
 * How a scoring run splits its input (docs/batch-scoring.md): the image keys
 * sorted, cut into batches of `batchSize` in that order, each batch named by
 * the digest of its keys, and the batches cut into `count` contiguous shards.
 * Batches come before shards, so a batch's name does not depend on how many
 * shards run it: a run on one machine resumes what a Kubernetes Indexed Job
 * left, and the other way round. Pure functions; no I/O.
 */
import { createHash } from 'node:crypto';
import { ProjectError } from '../../platform/errors.ts';

/** One batch: the keys it scores, in order, and its name (its output object's name). */
export interface ScoringBatch {
  /** `score-` and 20 hex digits of sha256 over the keys, newline-separated. */
  name: string;
  keys: string[];
}

/** Which shard of how many: `index` in [0, count). */
export interface Shard {
  index: number;
  count: number;
}

/** A shard as `index/count`, checked. USAGE naming `what` when it is not one. */
export function checkShard(shard: Shard, what: string): Shard {
  const { index, count } = shard;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new ProjectError(
      'USAGE',
      `${what}: shard ${index} of ${count} is not a shard (0 <= index < count)`,
      {
        subject: what,
        hint: 'a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX from 0 to completions - 1',
      },
    );
  }
  return shard;
}

/** The name of the batch of `keys`. */
export const batchName = (keys: readonly string[]): string =>
  `score-${createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, 20)}`;

/** `keys` (sorted here, by code unit) cut into batches of at most `batchSize`. */
export function planBatches(keys: readonly string[], batchSize: number): ScoringBatch[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ProjectError('USAGE', `batch size ${batchSize} is not a whole number >= 1`, {
      subject: '--batch-size',
    });
  }
  const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: ScoringBatch[] = [];
  for (let i = 0; i < sorted.length; i += batchSize) {
    const part = sorted.slice(i, i + batchSize);
    out.push({ name: batchName(part), keys: part });
  }
  return out;
}

/**
 * The batches of shard `index` of `count`: a contiguous range, the ranges of
 * all shards covering every batch exactly once, sizes differing by one at most.
 */
export function shardBatches<T>(batches: readonly T[], shard: Shard): T[] {
  const { index, count } = checkShard(shard, 'shard');
  const n = batches.length;
  return batches.slice(Math.floor((index * n) / count), Math.floor(((index + 1) * n) / count));
}
