import { describe, expect, it } from '@jest/globals';
import { AccuracyWindow, FeedbackStore } from './feedback.ts';

const png = (n: number) => new Uint8Array(n).fill(7);

function store(over: Partial<ConstructorParameters<typeof FeedbackStore>[0]> = {}) {
  let now = 1_000_000;
  const s = new FeedbackStore({ capacity: 3, maxBytes: 1000, ttlMs: 60_000, window: 10, ...over }, () => now);
  return { s, advance: (ms: number) => (now += ms) };
}

describe('FeedbackStore', () => {
  it('records the true label of a remembered answer, once', () => {
    const { s } = store();
    s.remember('r1', '3', [{ predicted: 'circle', bytes: png(10), contentType: 'image/png' }]);
    expect(s.record('r1', 0, 'square')).toEqual({
      request_id: 'r1',
      index: 0,
      label: 'square',
      predicted: 'circle',
      correct: false,
      version: '3',
    });
    expect(() => s.record('r1', 0, 'circle')).toThrow(
      expect.objectContaining({ code: 'CONFLICT', message: expect.stringContaining('already has feedback') }),
    );
  });

  it('an unknown id is NOT_FOUND saying why it may be unknown; a bad index is INVALID', () => {
    const { s } = store();
    s.remember('r1', '3', [{ predicted: 'circle' }, { predicted: 'cross' }]);
    expect(() => s.record('nope', 0, 'circle')).toThrow(
      expect.objectContaining({
        code: 'NOT_FOUND',
        message: expect.stringMatching(
          /no recent answer with request_id "nope".*older than 60 s.*last 3 answers/,
        ),
      }),
    );
    expect(() => s.record('r1', 2, 'circle')).toThrow(
      expect.objectContaining({ code: 'INVALID', message: expect.stringContaining('answered 2 image(s)') }),
    );
    expect(s.record('r1', 1, 'cross').correct).toBe(true);
  });

  it('forgets answers past the TTL', () => {
    const { s, advance } = store();
    s.remember('old', '3', [{ predicted: 'circle' }]);
    advance(59_000);
    s.remember('new', '3', [{ predicted: 'circle' }]);
    advance(2_000);
    expect(() => s.record('old', 0, 'circle')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(s.record('new', 0, 'circle').correct).toBe(true);
  });

  it('keeps at most `capacity` answers and `maxBytes` of images, evicting the oldest', () => {
    const { s } = store();
    for (const id of ['a', 'b', 'c', 'd']) s.remember(id, '3', [{ predicted: 'circle', bytes: png(100) }]);
    expect(s.size).toEqual({ answers: 3, bytes: 300 });
    expect(() => s.record('a', 0, 'circle')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    s.remember('big', '3', [{ predicted: 'circle', bytes: png(900) }]);
    expect(s.size).toEqual({ answers: 2, bytes: 1000 }); // b and c evicted for the bytes, d and big kept
    s.remember('huge', '3', [{ predicted: 'circle', bytes: png(5000) }]); // over the whole budget: kept without bytes
    expect(s.size).toEqual({ answers: 3, bytes: 1000 });
    expect(s.record('huge', 0, 'circle').correct).toBe(true);
    expect([...s.exported()].map((e) => e.request_id)).toEqual([]); // no image, nothing to export
  });

  it('exports labelled images only, with their bytes and what the model said', () => {
    const { s } = store();
    s.remember('r1', '3', [
      { predicted: 'circle', bytes: png(4), contentType: 'image/png' },
      { predicted: 'cross', bytes: png(4), contentType: 'image/png' },
    ]);
    s.record('r1', 1, 'square');
    expect([...s.exported()]).toEqual([
      {
        request_id: 'r1',
        index: 1,
        label: 'square',
        predicted: 'cross',
        version: '3',
        labelled_at: new Date(1_000_000).toISOString(),
        content_type: 'image/png',
        image_base64: Buffer.from(png(4)).toString('base64'),
      },
    ]);
  });

  it('capacity 0 turns feedback off: nothing is remembered', () => {
    const { s } = store({ capacity: 0 });
    s.remember('r1', '3', [{ predicted: 'circle', bytes: png(4) }]);
    expect(s.enabled).toBe(false);
    expect(s.size).toEqual({ answers: 0, bytes: 0 });
  });
});

describe('AccuracyWindow', () => {
  it('is the correct share of the last `size` outcomes', () => {
    const w = new AccuracyWindow(4);
    expect(Number.isNaN(w.accuracy)).toBe(true);
    for (const c of [true, true, false, true]) w.add(c);
    expect(w.accuracy).toBe(0.75);
    w.add(false); // the first true leaves the window
    expect([w.samples, w.accuracy]).toEqual([4, 0.5]);
  });
});
