import { describe, expect, it } from '@jest/globals';
import { AccuracyWindow, type LabelRecord, MemoryLedger, RecentImages } from './feedback.ts';
import { FeedbackIds } from './feedback-id.ts';

const png = (n: number) => new Uint8Array(n).fill(7);
const KEY = 'k'.repeat(32);
const claims = {
  answerId: 'AAAAAAAAAAAAAAAAAAAAAA',
  requestId: 'req-1',
  model: 'demo-classifier',
  version: '3',
  at: 1_000_000,
  predicted: ['circle', 'cross'],
  sha256: ['a'.repeat(64), 'b'.repeat(64)],
};

const label = (answer: string, index: number, answeredAt: number): LabelRecord => ({
  schema: 'feedback/v1',
  answer_id: answer,
  request_id: 'r',
  index,
  label: 'circle',
  predicted: 'circle',
  correct: true,
  model: 'm',
  version: '3',
  image_sha256: '',
  answered_at: new Date(answeredAt).toISOString(),
  labelled_at: new Date(answeredAt).toISOString(),
  pod: 'p',
});

describe('FeedbackIds', () => {
  it('a replica with the same key verifies what another signed, and reads back every claim', () => {
    const id = new FeedbackIds(KEY).sign(claims);
    expect(id).toMatch(/^fb1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(new FeedbackIds(KEY).verify(id)).toEqual(claims);
  });

  it('refuses an id made up, altered, or signed with another key: UNAUTHORIZED naming SERVING_ID_KEY', () => {
    const ids = new FeedbackIds(KEY);
    const id = ids.sign(claims);
    const unauthorized = expect.objectContaining({
      code: 'UNAUTHORIZED',
      message: expect.stringContaining('does not carry a valid signature of this service'),
    });
    expect(() => new FeedbackIds('x'.repeat(32)).verify(id)).toThrow(unauthorized);
    // A client that changes the predicted class (to make a wrong answer count as right) breaks the MAC.
    const [, payload, mac] = id.split('.');
    const forged = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    forged.p = ['square', 'square'];
    expect(() =>
      ids.verify(`fb1.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${mac}`),
    ).toThrow(unauthorized);
    expect(() => ids.verify(`${id.slice(0, -2)}AA`)).toThrow(unauthorized);
    expect(() => ids.verify('req-1')).toThrow(
      expect.objectContaining({ code: 'INVALID', message: expect.stringContaining('is not a feedback id') }),
    );
  });

  it('accepts ids of the previous key during a rotation, and signs with the new one only', () => {
    const old = new FeedbackIds('o'.repeat(32)).sign(claims);
    const rotated = new FeedbackIds(KEY, 'o'.repeat(32));
    expect(rotated.verify(old).answerId).toBe(claims.answerId);
    expect(new FeedbackIds(KEY).verify(rotated.sign(claims)).answerId).toBe(claims.answerId);
  });

  it('without a key, ids verify in this process only', () => {
    const a = new FeedbackIds();
    expect(a.shared).toBe(false);
    expect(a.verify(a.sign(claims)).version).toBe('3');
    expect(() => new FeedbackIds().verify(a.sign(claims))).toThrow(
      expect.objectContaining({ code: 'UNAUTHORIZED' }),
    );
  });
});

describe('MemoryLedger', () => {
  it('records a label of an (answer, index) once: the second is CONFLICT', async () => {
    const l = new MemoryLedger({ capacity: 10, ttlMs: 60_000 }, () => 1_000_000);
    await l.record(label('a', 0, 1_000_000));
    await l.record(label('a', 1, 1_000_000));
    await expect(l.record(label('a', 0, 1_000_000))).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'image 0 of answer a already has a label: a label counts once',
    });
    expect(l.size).toBe(2);
  });

  it('forgets labels of answers past the TTL (their ids are refused as expired) and beyond capacity', async () => {
    let now = 1_000_000;
    const l = new MemoryLedger({ capacity: 2, ttlMs: 60_000 }, () => now);
    await l.record(label('old', 0, now));
    now += 61_000;
    await l.record(label('new', 0, now));
    expect(l.size).toBe(1);
    await l.record(label('b', 0, now));
    await l.record(label('c', 0, now));
    const ids: string[] = [];
    for await (const r of l.list()) ids.push(r.answer_id);
    expect(ids).toEqual(['b', 'c']);
  });
});

describe('RecentImages', () => {
  it('keeps at most `capacity` answers and `maxBytes` of images, evicting the oldest, and forgets past the TTL', () => {
    let now = 1_000_000;
    const s = new RecentImages({ capacity: 3, maxBytes: 1000, ttlMs: 60_000 }, () => now);
    for (const id of ['a', 'b', 'c', 'd']) s.remember(id, [{ bytes: png(100), contentType: 'image/png' }]);
    expect(s.size).toEqual({ answers: 3, bytes: 300 });
    expect(s.get('a', 0)).toBeUndefined();
    s.remember('big', [{ bytes: png(900), contentType: 'image/png' }]);
    expect(s.size).toEqual({ answers: 2, bytes: 1000 });
    s.remember('huge', [{ bytes: png(5000), contentType: 'image/png' }]); // over the whole budget: not kept
    expect(s.get('huge', 0)).toBeUndefined();
    expect(s.get('big', 0)?.bytes.byteLength).toBe(900);
    now += 61_000;
    expect(s.size).toEqual({ answers: 0, bytes: 0 });
  });

  it('capacity 0 keeps nothing', () => {
    const s = new RecentImages({ capacity: 0, maxBytes: 1000, ttlMs: 60_000 });
    s.remember('r1', [{ bytes: png(4), contentType: 'image/png' }]);
    expect([s.enabled, s.size]).toEqual([false, { answers: 0, bytes: 0 }]);
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
