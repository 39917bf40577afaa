import { describe, expect, it } from '@jest/globals';
import { agreementTable, markdownTable, multipartBody, percentile, ratio } from './report.ts';

describe('bench/peer report', () => {
  it('takes percentiles by nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 0.5)).toBe(50);
    expect(percentile(v, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBe(0);
  });

  it('prints ratios koa/peer, "-" when the peer has none', () => {
    expect(ratio(300, 200)).toBe('1.50x');
    expect(ratio(1, 0)).toBe('-');
  });

  it('puts both servers side by side per client count, errors included', () => {
    const m = (rps: number, errors = 0) => ({
      requests: rps * 10,
      rps,
      p50: 2,
      p99: 8,
      errors,
      non2xx: 0,
      rssPeakMiB: 100,
    });
    const table = markdownTable([{ clients: 64, koa: m(400), peer: m(200, 3) }]);
    expect(table.split('\n')[2]).toBe(
      '| 64 | 400 | 200 | 2.00x | 2 | 2 | 8 | 8 | 1.00x | 100 | 100 | 1.00x | 0/3 |',
    );
  });

  it('flags a top-1 disagreement', () => {
    const t = agreementTable([
      { image: 'circle/a.png', koa: 'circle', peer: 'circle', maxProbabilityDiff: 1e-7 },
      { image: 'cross/b.png', koa: 'cross', peer: 'square', maxProbabilityDiff: 0.5 },
    ]);
    expect(t).toContain('| circle/a.png | circle | circle | yes | 1.0e-7 |');
    expect(t).toContain('| cross/b.png | cross | square | NO | 5.0e-1 |');
  });

  it('builds a multipart body with one "image" file part (RFC 7578)', () => {
    const { body, contentType } = multipartBody(new Uint8Array([1, 2, 3]), 'b0');
    expect(contentType).toBe('multipart/form-data; boundary=b0');
    const text = body.toString('latin1');
    expect(
      text.startsWith('--b0\r\nContent-Disposition: form-data; name="image"; filename="image.png"\r\n'),
    ).toBe(true);
    expect(text.endsWith('\r\n\u0001\u0002\u0003\r\n--b0--\r\n')).toBe(true);
  });
});
