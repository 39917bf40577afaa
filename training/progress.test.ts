import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createEpochProgress } from './progress.ts';

function stream(isTTY: boolean): { s: NodeJS.WriteStream; written: () => string } {
  let out = '';
  const w = new Writable({
    write(chunk, _enc, done) {
      out += String(chunk);
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(w, {
    isTTY,
    columns: 120,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  });
  return { s: w, written: () => out };
}

function run(isTTY: boolean, progress?: boolean) {
  const { s, written } = stream(isTTY);
  const lines: string[] = [];
  const p = createEpochProgress({ stream: s, progress, log: (l) => lines.push(l) });
  p.start(1, 2, 3);
  p.update(1, 0.5);
  p.update(3, 0.25);
  p.end('epoch 1/2 done');
  return { written: written(), lines };
}

describe('createEpochProgress', () => {
  it('draws a bar on a TTY and prints the epoch line', () => {
    const r = run(true);
    expect(r.written).toContain('epoch 1/2 [');
    expect(r.lines).toEqual(['epoch 1/2 done']);
  });

  it('draws nothing when the stream is not a TTY, only the epoch line', () => {
    expect(run(false)).toEqual({ written: '', lines: ['epoch 1/2 done'] });
  });

  it('draws nothing with progress: false, even on a TTY', () => {
    expect(run(true, false)).toEqual({ written: '', lines: ['epoch 1/2 done'] });
  });
});
