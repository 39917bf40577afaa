/**
 * The peer benchmark's numbers and their tables: this server (Koa) and each
 * peer side by side per client count, every figure measured once per round
 * (`--repeat`), shown as its median with the range over the rounds, and the
 * ratio koa / peer taken round by round (the servers of one round ran
 * minutes apart, so a round's ratio shares that round's machine load).
 */
import type { Protocol } from './protocols.ts';
import { PEERS, type PeerName } from './servers.ts';

/** One server on one route at one client count, in one round. */
export interface Measure {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Peak resident memory of the server's process tree during the run, MiB. */
  rssPeakMiB: number;
}

/** The rounds of one server, route and client count. */
export type Runs = readonly Measure[];

/** A peer beside koa at one client count. */
export interface Row {
  clients: number;
  koa: Runs;
  peer: Runs;
}

/** One image of the agreement check: koa's top-1 on /predict and one peer route's. */
export interface Agreement {
  /** The peer and route, as the tables name it (`kserve (v2)`). */
  target: string;
  image: string;
  koa: string;
  peer: string;
  /** Largest absolute difference between the two answers' probabilities, over the classes both carry. */
  maxProbabilityDiff: number;
}

/** Percentile by nearest rank on sorted values (0 for none). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1));
  return Number(sorted[i]!.toFixed(2));
}

/** a / b with two decimals, "-" when b is 0. */
export function ratio(a: number, b: number): string {
  return b === 0 ? '-' : `${(a / b).toFixed(2)}x`;
}

/** The median of values (the mean of the middle two for an even count; 0 for none). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** "412 (398–426)": the median and, when the rounds differ, their range; `digits` decimals. */
export function spread(values: readonly number[], digits = 0): string {
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const m = round(median(values), digits);
  return values.length < 2 || round(lo, digits) === round(hi, digits)
    ? String(m)
    : `${m} (${round(lo, digits)}–${round(hi, digits)})`;
}

/** koa / peer round by round, "1.23x (1.10–1.35)": the median ratio and the range; "-" where a peer value is 0. */
export function ratioSpread(koa: readonly number[], peer: readonly number[]): string {
  const ratios = koa.map((k, i) => k / (peer[i] ?? 0));
  if (ratios.length === 0 || ratios.some((r) => !Number.isFinite(r))) return '-';
  const [m, lo, hi] = [median(ratios), Math.min(...ratios), Math.max(...ratios)].map((x) => x.toFixed(2));
  return lo === hi ? `${m}x` : `${m}x (${lo}–${hi})`;
}

const of = (runs: Runs, key: keyof Measure) => runs.map((m) => m[key]);
const failures = (runs: Runs) => runs.reduce((n, m) => n + m.errors + m.non2xx, 0);

/** The side-by-side table (markdown): each figure median (range), each ratio per round. */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| clients | koa img/s | peer img/s | img/s koa/peer | koa p50 ms | peer p50 ms | p50 koa/peer | koa p99 ms | peer p99 ms | p99 koa/peer | koa RSS MiB | peer RSS MiB | RSS koa/peer | errors koa/peer |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { clients, koa, peer } of rows) {
    const cells = [String(clients)];
    for (const [key, digits] of [
      ['rps', 0],
      ['p50', 1],
      ['p99', 1],
      ['rssPeakMiB', 0],
    ] as const) {
      cells.push(
        spread(of(koa, key), digits),
        spread(of(peer, key), digits),
        ratioSpread(of(koa, key), of(peer, key)),
      );
    }
    cells.push(`${failures(koa)}/${failures(peer)}`);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** The best peer at one load: by throughput, or (at 1 client) by median latency. */
export interface BestRow {
  clients: number;
  by: 'img/s' | 'p50';
  peer: string;
  koa: Runs;
  best: Runs;
}

/**
 * At each client count the peer with the highest median img/s, and at 1
 * client also the one with the lowest median p50, beside koa's runs there.
 * `koa[i]` and each `peers[name][i]` are the runs at `clients[i]`.
 */
export function bestPeers(
  clients: readonly number[],
  koa: readonly Runs[],
  peers: Readonly<Record<string, readonly Runs[]>>,
): BestRow[] {
  const names = Object.keys(peers);
  if (names.length === 0) return [];
  const pick = (i: number, score: (r: Runs) => number) =>
    names.reduce((best, n) => (score(peers[n]![i]!) > score(peers[best]![i]!) ? n : best));
  return clients.flatMap((c, i) => {
    const rows: BestRow[] = [];
    const fastest = pick(i, (r) => median(of(r, 'rps')));
    rows.push({ clients: c, by: 'img/s', peer: fastest, koa: koa[i]!, best: peers[fastest]![i]! });
    if (c === 1) {
      const quickest = pick(i, (r) => -median(of(r, 'p50')));
      rows.push({ clients: c, by: 'p50', peer: quickest, koa: koa[i]!, best: peers[quickest]![i]! });
    }
    return rows;
  });
}

/** The summary table: koa against the best peer at each load, ratios koa / best per round. */
export function bestPeerTable(rows: readonly BestRow[]): string {
  const lines = [
    '| clients | best by | best peer | koa img/s | best img/s | img/s koa/best | koa p50 ms | best p50 ms | p50 koa/best | p99 koa/best | RSS koa/best |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { clients, by, peer, koa, best } of rows) {
    const cells = [
      String(clients),
      by === 'img/s' ? 'highest img/s' : 'lowest p50',
      peer,
      spread(of(koa, 'rps')),
      spread(of(best, 'rps')),
      ratioSpread(of(koa, 'rps'), of(best, 'rps')),
      spread(of(koa, 'p50'), 1),
      spread(of(best, 'p50'), 1),
      ratioSpread(of(koa, 'p50'), of(best, 'p50')),
      ratioSpread(of(koa, 'p99'), of(best, 'p99')),
      ratioSpread(of(koa, 'rssPeakMiB'), of(best, 'rssPeakMiB')),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The agreement check, one row per image: koa's top-1, then each peer
 * route's (marked NO where it differs), and a last row with each route's
 * largest probability difference from koa.
 */
export function agreementTable(rows: readonly Agreement[]): string {
  const targets = [...new Set(rows.map((r) => r.target))];
  const images = [...new Set(rows.map((r) => r.image))];
  const lines = [
    `| image | koa | ${targets.join(' | ')} |`,
    `| --- | --- | ${targets.map(() => '---').join(' | ')} |`,
  ];
  for (const image of images) {
    const mine = rows.filter((r) => r.image === image);
    const cells = targets.map((t) => {
      const a = mine.find((r) => r.target === t);
      return !a ? '-' : a.peer === a.koa ? a.peer : `NO: ${a.peer}`;
    });
    lines.push(`| ${image} | ${mine[0]?.koa ?? '-'} | ${cells.join(' | ')} |`);
  }
  const diffs = targets.map((t) =>
    Math.max(...rows.filter((r) => r.target === t).map((r) => r.maxProbabilityDiff)).toExponential(1),
  );
  lines.push(`| largest prob. diff | | ${diffs.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

/** How one model's benchmark ran. */
export interface ModelMeta {
  benchModel: string;
  date: string;
  cpus: string;
  memoryGiB: number;
  node: string;
  koaBackend: string;
  /** Per venv: the Python version and the version of each package the peers name. */
  python: Record<string, Record<string, string>>;
  duration: number;
  repeat: number;
  clients: number[];
  peers: PeerName[];
  model: string;
  image: string;
}

/** One server on one route: what the tables call it, and its runs (`runs[i]`: the rounds at `clients[i]`). */
export interface Target {
  label: string;
  server: 'koa' | PeerName;
  protocol: Protocol;
  route: string;
  runs: Measure[][];
}

/** One model's results: every target's runs, the agreement check, and the rows skipped with why. */
export interface ModelReport {
  meta: ModelMeta;
  targets: Target[];
  agreement: Agreement[];
  skipped: string[];
}

/** How each server was run, for the report's header. */
function serversLines(first: ModelMeta): string[] {
  const versions = (p: PeerName) => {
    const v = first.python[PEERS[p].venv] ?? {};
    return ['python', ...PEERS[p].packages].map((k) => `${k} ${v[k] ?? '?'}`).join(', ');
  };
  return [
    `- koa: serving/main.ts, Node ${first.node}, tfjs backend ${first.koaBackend}, micro-batching (defaults)`,
    ...first.peers.map((p) => `- ${p}: ${PEERS[p].what}; ${versions(p)}`),
  ];
}

/** One model's section: agreement, the summary against the best peer, then koa beside each peer route. */
function modelSection(r: ModelReport): string[] {
  const m = r.meta;
  const koa = r.targets.find((t) => t.label === 'koa');
  const peers = r.targets.filter((t) => t.server !== 'koa');
  const same = r.agreement.filter((a) => a.koa === a.peer).length;
  const out = [
    `## ${m.benchModel}: ${m.model}`,
    '',
    `image: ${m.image}; agreement: the peer routes give koa's top-1 on ${same}/${r.agreement.length} answers (${m.peers.length ? 'table below' : 'no peers'})`,
    '',
    ...r.skipped.flatMap((s) => [s, '']),
  ];
  if (!koa || peers.length === 0) return out;
  out.push(
    '### This server against the best peer at each load',
    '',
    `koa on POST /predict (multipart PNG) against the peer route with the highest median img/s at each load, and at 1 client also the one with the lowest median p50.`,
    '',
    bestPeerTable(
      bestPeers(m.clients, koa.runs, Object.fromEntries(peers.map((t) => [t.label, t.runs]))),
    ).trimEnd(),
    '',
  );
  for (const t of peers) {
    const base = r.targets.find((x) => x.server === 'koa' && x.protocol === t.protocol) ?? koa;
    out.push(
      `### koa vs ${t.label}`,
      '',
      `${t.label}: ${t.route}; koa: ${base.route}`,
      '',
      markdownTable(
        m.clients.map((c, i) => ({ clients: c, koa: base.runs[i]!, peer: t.runs[i]! })),
      ).trimEnd(),
      '',
    );
  }
  if (r.agreement.length)
    out.push('### Same model, same answers', '', agreementTable(r.agreement).trimEnd(), '');
  return out;
}

/** The report of every model (bench/results/<results>.md). */
export function markdown(results: readonly ModelReport[]): string {
  const first = results[0]!.meta;
  const out = [
    '# Peer benchmark: this server vs FastAPI, KServe and LitServe',
    '',
    `${first.date} · ${first.cpus} · ${first.memoryGiB} GiB · ${first.duration} s per run, one server at a time, autocannon in the driver process; ${first.repeat} round(s), every server once per round; requests carry one image each, so req/s = images/s`,
    '',
    ...serversLines(first),
    '',
    ...results.flatMap(modelSection),
    `Each figure is the median over the rounds with the range in brackets; each ratio is koa / peer taken round by round (median and range). Above 1 for img/s means this server is faster; below 1 for p50, p99 and RSS means lower latency and memory.`,
    '',
  ];
  return out.join('\n');
}
