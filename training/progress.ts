/**
 * Per-epoch progress: a cli-progress bar on a TTY (stderr by default), or
 * one plain line per epoch when output is not a terminal or progress is
 * switched off, so CI logs stay readable.
 */
import cliProgress from 'cli-progress';

export interface EpochProgress {
  start(epoch: number, epochs: number, batches: number): void;
  update(batch: number, loss: number): void;
  /** Close the bar and print the epoch's summary line. */
  end(line: string): void;
}

export interface ProgressOptions {
  /** false: no bar, only the per-epoch lines. Default: a bar when the stream is a TTY. */
  progress?: boolean;
  /** Where the bar goes; default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Where per-epoch lines go; default console.error. */
  log?: (line: string) => void;
}

/** A progress reporter for the training loop. */
export function createEpochProgress(opts: ProgressOptions = {}): EpochProgress {
  const stream = opts.stream ?? process.stderr;
  const log = opts.log ?? ((line: string) => console.error(line));
  const useBar = opts.progress !== false && stream.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  return {
    start(epoch, epochs, batches) {
      if (!useBar) return;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `epoch ${epoch}/${epochs} [{bar}] {value}/{total} batches  loss {loss}  {duration_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(batches, 0, { loss: '-' });
    },
    update(batch, loss) {
      bar?.update(batch, { loss: loss.toFixed(4) });
    },
    end(line) {
      bar?.stop();
      bar = undefined;
      log(line);
    },
  };
}
