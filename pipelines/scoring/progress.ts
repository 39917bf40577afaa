/**
 * Progress of a scoring run: a cli-progress bar on a TTY (stderr), or one
 * plain line every `every` batches (and at the end) when the stream is not a
 * terminal, so CI and pod logs stay readable.
 */
import cliProgress from 'cli-progress';
import type { ScoreProgress } from './score.ts';

export interface ScoreProgressOptions {
  /** Where the bar or the lines go; default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** false: lines only. Default: a bar when the stream is a TTY. */
  bar?: boolean;
  /** Without a bar, a line every this many batches (default 10). */
  every?: number;
}

export function createScoreProgress(opts: ScoreProgressOptions = {}): ScoreProgress {
  const stream = opts.stream ?? process.stderr;
  const useBar = opts.bar !== false && stream.isTTY === true;
  const every = opts.every ?? 10;
  let bar: cliProgress.SingleBar | undefined;
  let total = 0;
  let images = 0;
  let errors = 0;
  let batches = 0;
  let todo = 0;
  const line = () =>
    stream.write(`scored ${images}/${total} images (${batches}/${todo} batches, ${errors} error records)\n`);
  return {
    start(t) {
      total = t.images - t.skippedImages;
      todo = t.batches - t.skippedBatches;
      if (t.skippedBatches > 0) {
        stream.write(
          `skipping ${t.skippedBatches} of ${t.batches} batches (${t.skippedImages} images) already written\n`,
        );
      }
      if (!useBar || todo === 0) return;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: 'scoring [{bar}] {value}/{total} images  {errors} errors  {eta_formatted} left',
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { errors: 0 });
    },
    batch(d) {
      images += d.images;
      errors += d.errors;
      batches++;
      if (bar) bar.update(images, { errors });
      else if (batches % every === 0) line();
    },
    stop() {
      bar?.stop();
      bar = undefined;
      if (todo > 0 && (useBar || batches % every !== 0)) line();
    },
  };
}
