import { describe, expect, it } from '@jest/globals';
import {
  agreementTable,
  bestPeers,
  bestPeerTable,
  type ModelReport,
  markdown,
  markdownTable,
  median,
  percentile,
  ratio,
  ratioSpread,
  spread,
} from './report.ts';

const m = (rps: number, o: { p50?: number; p99?: number; rss?: number; errors?: number } = {}) => ({
  requests: rps * 10,
  rps,
  p50: o.p50 ?? 2,
  p99: o.p99 ?? 8,
  errors: o.errors ?? 0,
  non2xx: 0,
  rssPeakMiB: o.rss ?? 100,
});

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

  it('gives each figure its median and, when the rounds differ, their range', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1])).toBe(2.5);
    expect(spread([398, 426])).toBe('412 (398–426)');
    expect(spread([12.34, 12.36], 1)).toBe('12.3 (12.3–12.4)');
    expect(spread([5, 5])).toBe('5');
    expect(spread([7])).toBe('7');
  });

  it('takes ratios round by round: koa of round i over the peer of round i', () => {
    // Round 1: 400/200 = 2; round 2: 300/300 = 1 (not 350/250 = 1.4 from the medians).
    expect(ratioSpread([400, 300], [200, 300])).toBe('1.50x (1.00–2.00)');
    expect(ratioSpread([400], [200])).toBe('2.00x');
    expect(ratioSpread([1, 1], [1, 0])).toBe('-');
  });

  it('puts koa and a peer side by side per client count, errors of every round included', () => {
    const table = markdownTable([
      { clients: 64, koa: [m(400), m(420)], peer: [m(200, { errors: 3 }), m(210, { errors: 1 })] },
    ]);
    expect(table.split('\n')[2]).toBe(
      '| 64 | 410 (400–420) | 205 (200–210) | 2.00x | 2 | 2 | 1.00x | 8 | 8 | 1.00x | 100 | 100 | 1.00x | 0/4 |',
    );
  });

  it('picks the best peer by median img/s at each load, and by median p50 at 1 client', () => {
    const koa = [[m(100, { p50: 5 })], [m(500, { p50: 30 })]];
    const rows = bestPeers([1, 16], koa, {
      fastapi: [[m(150, { p50: 6 })], [m(200, { p50: 70 })]],
      'kserve (v1)': [[m(120, { p50: 4 })], [m(250, { p50: 60 })]],
    });
    expect(rows.map((r) => [r.clients, r.by, r.peer])).toEqual([
      [1, 'img/s', 'fastapi'],
      [1, 'p50', 'kserve (v1)'],
      [16, 'img/s', 'kserve (v1)'],
    ]);
    const table = bestPeerTable(rows).split('\n');
    expect(table[3]).toBe(
      '| 1 | lowest p50 | kserve (v1) | 100 | 120 | 0.83x | 5 | 4 | 1.25x | 1.00x | 1.00x |',
    );
    expect(table[4]).toBe(
      '| 16 | highest img/s | kserve (v1) | 500 | 250 | 2.00x | 30 | 60 | 0.50x | 1.00x | 1.00x |',
    );
  });

  it('shows every peer route per image and flags a top-1 disagreement', () => {
    const t = agreementTable([
      { target: 'fastapi', image: 'circle/a.png', koa: 'circle', peer: 'circle', maxProbabilityDiff: 1e-7 },
      {
        target: 'kserve (v2)',
        image: 'circle/a.png',
        koa: 'circle',
        peer: 'circle',
        maxProbabilityDiff: 3e-7,
      },
      { target: 'fastapi', image: 'cross/b.png', koa: 'cross', peer: 'cross', maxProbabilityDiff: 2e-7 },
      { target: 'kserve (v2)', image: 'cross/b.png', koa: 'cross', peer: 'square', maxProbabilityDiff: 0.5 },
    ]).split('\n');
    expect(t[0]).toBe('| image | koa | fastapi | kserve (v2) |');
    expect(t[2]).toBe('| circle/a.png | circle | circle | circle |');
    expect(t[3]).toBe('| cross/b.png | cross | cross | NO: square |');
    expect(t[4]).toBe('| largest prob. diff | | 2.0e-7 | 5.0e-1 |');
  });

  describe('the report', () => {
    const runs = (rps: number) => [[m(rps)], [m(rps * 2)]];
    const route = { predict: 'POST /predict, multipart PNG', v1: 'POST /v1/x', v2: 'POST /v2/x' } as const;
    const target = (server: 'koa' | 'kserve', protocol: 'predict' | 'v1' | 'v2', rps: number) => ({
      label: protocol === 'predict' ? server : `${server} (${protocol})`,
      server,
      protocol,
      route: route[protocol],
      runs: runs(rps),
    });
    const report = (koaV2: boolean): ModelReport => ({
      meta: {
        benchModel: 'demo',
        date: '2026-01-01T00:00:00.000Z',
        cpus: '2 x cpu',
        memoryGiB: 24,
        node: '24.0.0',
        koaBackend: 'tensorflow',
        python: { servers: { python: '3.11.7', kserve: '0.21.0' } },
        duration: 10,
        repeat: 1,
        clients: [1, 16],
        peers: ['kserve'],
        model: 'demo-classifier',
        image: 'circle/a.png',
      },
      targets: [
        target('koa', 'predict', 100),
        ...(koaV2 ? [target('koa', 'v2', 90)] : []),
        target('kserve', 'v1', 50),
        target('kserve', 'v2', 60),
      ],
      agreement: [],
      skipped: koaV2
        ? []
        : ['koa (v2) skipped: serving/main.ts answered 404 to POST /v2/x: the route is missing'],
    });
    const sectionOf = (md: string, heading: string) => md.split(`### ${heading}\n\n`)[1]!.split('\n')[0];

    it("compares kserve (v2) with koa's v2 route when koa answers it, kserve (v1) with koa's /predict", () => {
      const md = markdown([report(true)]);
      expect(sectionOf(md, 'koa vs kserve (v2)')).toBe('kserve (v2): POST /v2/x; koa: POST /v2/x');
      expect(sectionOf(md, 'koa vs kserve (v1)')).toBe(
        'kserve (v1): POST /v1/x; koa: POST /predict, multipart PNG',
      );
      expect(md).toContain('- kserve: KServe ModelServer, --workers 1');
    });

    it("says why koa's v2 row is skipped and compares kserve (v2) with koa's /predict instead", () => {
      const md = markdown([report(false)]);
      expect(md).toContain(
        'koa (v2) skipped: serving/main.ts answered 404 to POST /v2/x: the route is missing',
      );
      expect(sectionOf(md, 'koa vs kserve (v2)')).toBe(
        'kserve (v2): POST /v2/x; koa: POST /predict, multipart PNG',
      );
    });
  });
});
