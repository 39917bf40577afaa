/**
 * Hostile requests against a real server process (serving/main.ts spawned
 * with tsx, so a crash shows as the process exiting): truncated, aborted and
 * slow bodies and headers, decompression bombs, huge dimensions in tiny
 * files, a JPEG scan bomb, malformed base64, deep JSON, giant numbers, wrong
 * Content-Length, chunked-encoding abuse, many tiny parts, header floods, a
 * connection flood, a pixel flood, across raw, multipart, JSON and v2 bodies.
 *
 * Asserted: the process never exits; every answer is the expected 4xx/503
 * with a JSON error body (aborted requests get none: nobody is there to read
 * it); while the suite runs every `/healthz` probe of a separate sampler
 * process is answered, and the server's event loop is busy for 100 ms or more
 * (main-thread CPU time between 10 ms ticks) in under 1% of ticks, so a
 * probe's p99 wait for the loop is under 100 ms (issue 11's responsiveness
 * bound, in CPU time so that other work on a shared machine cannot fail it,
 * nor hide a real block); afterwards the
 * in-flight gauges are 0, the tfjs tensor counts (main and worker thread)
 * are back to their baseline exactly, and RSS is within 160 MiB of its
 * baseline after warm-up (glibc and V8 keep some freed memory mapped; the
 * issue's failure mode was +950 MB).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import sharp from 'sharp';
import { freePort } from '../testing/ports.ts';
import { shapePng } from '../testing/serving/fixture.ts';
import { tempFixture } from '../testing/serving/harness.ts';
import { type ServerProcess, spawnServer } from '../testing/serving/process.ts';

const LIMITS = {
  SERVING_REQUEST_TIMEOUT_MS: '3000',
  SERVING_HEADERS_TIMEOUT_MS: '1500',
  SERVING_MAX_CONNECTIONS: '48',
  SERVING_MAX_HEADER_BYTES: '16384',
};

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let server: ServerProcess;
let port: number;
let base: string;
let exitedEarly: number | null | undefined;

beforeAll(async () => {
  fixture = await tempFixture();
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawnServer({
    ...fixture.env,
    SERVING_BACKEND: 'cpu',
    SERVING_HOST: '127.0.0.1',
    SERVING_PORT: String(port),
    ...LIMITS,
  });
  server.proc.on('exit', (code) => {
    exitedEarly = code;
  });
  await server.ready;
}, 120_000);

afterAll(async () => {
  if (server && server.proc.exitCode === null) {
    server.proc.kill('SIGTERM');
    await server.exited;
  }
  await fixture?.cleanup();
});

// ---------------------------------------------------------------- helpers

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Parse the first HTTP answer in `raw` (Koa and rawErrorResponse both send Content-Length). */
function parseAnswer(raw: string): Answer | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  return { status, headers, body: raw.slice(end + 4, end + 4 + length), raw };
}

interface Exchange {
  /** Bytes written at once, then `slow` chunks one by one. */
  head: string | Buffer;
  slow?: { chunks: (string | Buffer)[]; everyMs: number };
  /** Destroy the socket this long after the last write (an aborted upload). */
  abortAfterMs?: number;
}

/** Talk to the server over a raw socket: what fetch() cannot send. Resolves with all bytes read. */
function exchange(x: Exchange): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    const sock = connect(port, '127.0.0.1', () => {
      sock.write(x.head);
      const slow = x.slow;
      let delay = 0;
      if (slow) {
        slow.chunks.forEach((c, i) => {
          timers.push(
            setTimeout(
              () => {
                if (!sock.destroyed) sock.write(c);
              },
              (i + 1) * slow.everyMs,
            ),
          );
        });
        delay = slow.chunks.length * slow.everyMs;
      }
      if (x.abortAfterMs !== undefined) timers.push(setTimeout(() => sock.destroy(), delay + x.abortAfterMs));
    });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => undefined); // a reset after the answer is expected when the body is refused early
    sock.on('close', () => {
      for (const t of timers) clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    // No case may hang the suite: whatever arrived in 20 s is the answer.
    timers.push(setTimeout(() => sock.destroy(), 20_000));
  });
}

const CRLF = '\r\n';
function post(path: string, type: string | undefined, body: Buffer | string, extra: string[] = []): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1');
  const head = [
    `POST ${path} HTTP/1.1`,
    'Host: x',
    ...(type ? [`Content-Type: ${type}`] : []),
    `Content-Length: ${b.length}`,
    'Connection: close',
    ...extra,
  ];
  return Buffer.concat([Buffer.from(head.join(CRLF) + CRLF + CRLF, 'latin1'), b]);
}

function multipart(
  parts: { name: string; filename?: string; body: Buffer | string }[],
  boundary = 'XyZ',
): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    out.push(
      Buffer.from(
        `--${boundary}${CRLF}Content-Disposition: ${disp}${CRLF}Content-Type: application/octet-stream${CRLF}${CRLF}`,
      ),
    );
    out.push(Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body));
    out.push(Buffer.from(CRLF));
  }
  out.push(Buffer.from(`--${boundary}--${CRLF}`));
  return Buffer.concat(out);
}

const v2 = '/v2/models/demo-classifier/infer';
const tensorBody = (shape: unknown, data: unknown, datatype = 'FP32') =>
  JSON.stringify({ inputs: [{ name: 'input', shape, datatype, data }] });

/** The PNG of a flat `width`x`height` image: a decompression bomb when large (a few KB for megapixels). */
const flatPng = async (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 9, g: 9, b: 9 } } })
    .png({ compressionLevel: 9 })
    .toBuffer();

/** A PNG whose IHDR claims `width`x`height` (the CRC no longer matches: the header check comes first). */
function pngClaiming(width: number, height: number): Buffer {
  const b = Buffer.from(shapePng('circle'));
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

/** A progressive JPEG with `extra` empty scans appended: a scan bomb. */
async function scanBomb(extra: number): Promise<Buffer> {
  const raw = Buffer.alloc(256 * 256 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31) % 251;
  const jpg = await sharp(raw, { raw: { width: 256, height: 256, channels: 3 } })
    .jpeg({ progressive: true })
    .toBuffer();
  const last = jpg.lastIndexOf(Buffer.from([0xff, 0xda]));
  const header = jpg.subarray(last, last + 2 + jpg.readUInt16BE(last + 2));
  return Buffer.concat([
    jpg.subarray(0, jpg.length - 2),
    ...new Array(extra).fill(header),
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** A JPEG whose frame header claims `width`x`height`. */
async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } })
    .jpeg()
    .toBuffer();
  const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
  jpg.writeUInt16BE(height, sof + 5);
  jpg.writeUInt16BE(width, sof + 7);
  return jpg;
}

// ---------------------------------------------------------------- the cases

interface Case {
  kind: string;
  /** Expected status and error text; undefined: no answer is expected (the client went away). */
  expect?: { status: number | number[]; error?: RegExp };
  run: () => Promise<string>;
  /** Several answers (a flood): each must match `expect`, at least one with status `mustSee`. */
  many?: () => Promise<string[]>;
  mustSee?: number;
}

let cases: Case[] = [];

async function buildCases(): Promise<Case[]> {
  const png = Buffer.from(shapePng('square'));
  const big = await flatPng(2048, 2048); // the largest image one request may hold, a few KB
  const bomb = await flatPng(4096, 4096); // 16.7 MP in a few KB: over the per-image limit
  const scans = await scanBomb(5000);
  const jpegHuge = await jpegClaiming(65000, 65000);
  const b64 = png.toString('base64');
  const oneChunk = (c: Buffer | string) => {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    return Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
  };
  const rawHead = (type: string, extra: string[] = []) =>
    [`POST /predict HTTP/1.1`, 'Host: x', `Content-Type: ${type}`, 'Connection: close', ...extra].join(CRLF) +
    CRLF +
    CRLF;
  const one = (
    kind: string,
    status: number | number[],
    error: RegExp | undefined,
    req: () => Buffer | string,
  ) => ({
    kind,
    expect: { status, ...(error ? { error } : {}) },
    run: () => exchange({ head: req() }),
  });

  return [
    // raw image bodies
    one('raw: text sent as image/png', 400, /request body: not an image/, () =>
      post('/predict', 'image/png', 'hello'),
    ),
    one('raw: truncated PNG', 400, /request body: truncated or corrupt PNG/, () =>
      post('/predict', 'image/png', png.subarray(0, png.length - 40)),
    ),
    one('raw: PNG cut inside IHDR', 400, /truncated PNG \(no complete IHDR header\)/, () =>
      post('/predict', 'image/png', png.subarray(0, 20)),
    ),
    one('raw: empty body', 400, /empty file \(0 bytes\)/, () => post('/predict', 'image/png', '')),
    one(
      'raw: 100000x100000 claimed in a 100-byte PNG',
      413,
      /image is 100000x100000 = 10000000000 pixels/,
      () => post('/predict', 'image/png', pngClaiming(100000, 100000)),
    ),
    one('raw: decompression bomb, 4096x4096 PNG of a few KB', 413, /image is 4096x4096/, () =>
      post('/predict', 'image/png', bomb),
    ),
    one('raw: JPEG frame header claiming 65000x65000', 413, /image is 65000x65000/, () =>
      post('/predict', 'image/jpeg', jpegHuge),
    ),
    one('raw: progressive JPEG with 5000 empty scans', 400, /JPEG has more than 100 scans/, () =>
      post('/predict', 'image/jpeg', scans),
    ),
    one('raw: JPEG of random bytes after SOI', 400, /request body: (truncated|corrupt)/, () =>
      post(
        '/predict',
        'image/jpeg',
        Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0]), Buffer.alloc(600, 0x5a)]),
      ),
    ),
    one(
      'raw: Content-Length over the body limit',
      413,
      /request body is over the limit of 8388608 bytes/,
      () =>
        [
          `POST /predict HTTP/1.1`,
          'Host: x',
          'Content-Type: image/png',
          'Content-Length: 99999999999',
          '',
          'x',
        ].join(CRLF),
    ),
    one('raw: chunked body past the limit, no Content-Length', 413, /over the limit of 8388608 bytes/, () =>
      Buffer.concat([
        Buffer.from(rawHead('image/png', ['Transfer-Encoding: chunked'])),
        ...new Array(9).fill(oneChunk(Buffer.alloc(1024 * 1024, 1))),
        Buffer.from(`0${CRLF}${CRLF}`),
      ]),
    ),
    one(
      'raw: invalid chunk size',
      400,
      /not valid HTTP\/1\.1/,
      () => rawHead('image/png', ['Transfer-Encoding: chunked']) + `zz${CRLF}abc${CRLF}0${CRLF}${CRLF}`,
    ),
    one(
      'raw: chunked and Content-Length together (request smuggling)',
      400,
      /not valid HTTP\/1\.1/,
      () => rawHead('image/png', ['Transfer-Encoding: chunked', 'Content-Length: 5']) + `0${CRLF}${CRLF}`,
    ),
    one('raw: Content-Length shorter than the body', 400, /truncated|corrupt/, () =>
      Buffer.concat([
        Buffer.from(rawHead('image/png', [`Content-Length: ${png.length - 50}`])),
        png,
        Buffer.from('GARBAGE / HTTP/9.9\r\n\r\n'),
      ]),
    ),
    {
      kind: 'raw: Content-Length longer than the body, then the client leaves',
      run: () =>
        exchange({
          head: rawHead('image/png', ['Content-Length: 5000']) + png.subarray(0, 100).toString('latin1'),
          abortAfterMs: 100,
        }),
    },
    one('raw: wrong Content-Type', 415, /Content-Type text\/plain is not accepted/, () =>
      post('/predict', 'text/plain', 'x'),
    ),
    one('raw: k that is not a number', 400, /query parameter k=1e9 must be an integer/, () =>
      post('/predict?k=1e9', 'image/png', png),
    ),
    one(
      'http: request line of garbage',
      400,
      /not valid HTTP\/1\.1/,
      () => `\u0000\u0001GET / HTTP/1.1${CRLF}${CRLF}`,
    ),
    one('http: unsupported method on /predict', 405, undefined, () =>
      [`PUT /predict HTTP/1.1`, 'Host: x', 'Content-Length: 0', 'Connection: close', '', ''].join(CRLF),
    ),
    one('http: header flood of 40 KB', 431, /request headers are over the limit of 16384 bytes/, () =>
      rawHead('image/png', [`X-Pad: ${'a'.repeat(40_000)}`, 'Content-Length: 0']),
    ),
    one('http: 2000 header fields', [400, 431], undefined, () =>
      rawHead('image/png', [...Array.from({ length: 2000 }, (_, i) => `X-${i}: 1`), 'Content-Length: 0']),
    ),
    {
      kind: 'http: slow-loris headers (one byte every 200 ms)',
      expect: { status: 408, error: /did not arrive in time/ },
      run: () =>
        exchange({
          head: 'POST /predict HTTP/1.1\r\nHost: x\r\n',
          slow: { chunks: 'X-Slow: abcdefghijklmnopqrstuvwxyz'.split(''), everyMs: 200 },
        }),
    },
    {
      kind: 'http: slow body (one byte every 300 ms)',
      expect: { status: 408, error: /did not arrive in time/ },
      run: () =>
        exchange({
          head: rawHead('image/png', [`Content-Length: ${png.length}`]),
          slow: { chunks: [...png.subarray(0, 30)].map((b) => Buffer.from([b])), everyMs: 300 },
        }),
    },
    // multipart
    one(
      'multipart: 72-byte truncated form (killed the process before 21892dc)',
      400,
      /multipart\/form-data body cannot be parsed: Unexpected end of multipart data/,
      () =>
        post(
          '/predict',
          'multipart/form-data; boundary=X',
          '--X\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\na',
        ),
    ),
    {
      kind: 'multipart: upload aborted mid-file',
      run: () =>
        exchange({
          head: `${rawHead('multipart/form-data; boundary=X', ['Content-Length: 100000'])}--X\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n0123456789`,
          abortAfterMs: 100,
        }),
    },
    one('multipart: no boundary', 400, /multipart\/form-data body cannot be parsed/, () =>
      post('/predict', 'multipart/form-data', multipart([{ name: 'image', filename: 'a.png', body: png }])),
    ),
    one('multipart: 2000 tiny parts', [400, 413], /multipart|more than 64 files/, () =>
      post(
        '/predict',
        'multipart/form-data; boundary=XyZ',
        multipart(
          Array.from({ length: 2000 }, (_, i) => ({ name: 'image', filename: `${i}.png`, body: 'x' })),
        ),
      ),
    ),
    one(
      'multipart: five 2048x2048 images (the per-request pixel budget)',
      413,
      /^field "image" #5: the request's images add up to 20971520 pixels/,
      () =>
        post(
          '/predict',
          'multipart/form-data; boundary=XyZ',
          multipart(
            Array.from({ length: 5 }, (_, i) => ({ name: 'image', filename: `${i}.png`, body: big })),
          ),
        ),
    ),
    one('multipart: a text file as the image', 400, /^field "image" #2: not an image/, () =>
      post(
        '/predict',
        'multipart/form-data; boundary=XyZ',
        multipart([
          { name: 'image', filename: 'a.png', body: png },
          { name: 'image', filename: 'b.png', body: 'not a picture' },
        ]),
      ),
    ),
    one('multipart: no file field "image"', 400, /no file field "image"/, () =>
      post('/predict', 'multipart/form-data; boundary=XyZ', multipart([{ name: 'note', body: 'hello' }])),
    ),
    // JSON
    one(
      'json: 64 PNGs of 2048x2048 in one request (18 s of event loop before)',
      413,
      /^images\[4\]: the request's images add up to 20971520 pixels/,
      () =>
        post(
          '/predict',
          'application/json',
          JSON.stringify({ images: new Array(64).fill(big.toString('base64')) }),
        ),
    ),
    one('json: malformed base64', 400, /images\[1\] is not base64/, () =>
      post('/predict', 'application/json', JSON.stringify({ images: [b64, '@@@not-base64@@@'] })),
    ),
    one('json: 100000 levels of nesting', 400, /request body/, () =>
      post('/predict', 'application/json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`),
    ),
    one('json: giant number', 400, /request body/, () =>
      post('/predict', 'application/json', `{"images": 1${'0'.repeat(5000)}}`),
    ),
    one('json: truncated', 400, /request body is not valid JSON/, () =>
      post('/predict', 'application/json', '{"images": ["iVBOR'),
    ),
    one('json: empty list', 400, /images/, () => post('/predict', 'application/json', '{"images": []}')),
    one('json: 6 MB base64 of a non-image', 400, /^images\[0\]: not an image/, () =>
      post(
        '/predict',
        'application/json',
        JSON.stringify({ images: [Buffer.alloc(4_500_000, 7).toString('base64')] }),
      ),
    ),
    // Open Inference Protocol v2
    one('v2: 64 levels of nested data', 400, /nested more than 8 levels/, () =>
      post(
        v2,
        'application/json',
        tensorBody([1, 16, 16, 1], JSON.parse(`${'['.repeat(64)}0${']'.repeat(64)}`)),
      ),
    ),
    one('v2: giant number (1e400 is Infinity)', 400, /not a finite number/, () =>
      post(
        v2,
        'application/json',
        tensorBody([1, 16, 16, 1], []).replace('"data":[]', `"data":[1e400${',0'.repeat(255)}]`),
      ),
    ),
    one('v2: shape of a billion images', 413, /over the limit of 64 per request/, () =>
      post(v2, 'application/json', tensorBody([1_000_000_000, 16, 16, 1], [0])),
    ),
    one('v2: wrong datatype', 400, /datatype INT8; the model takes FP32/, () =>
      post(v2, 'application/json', tensorBody([1, 16, 16, 1], [1], 'INT8')),
    ),
    one('v2: BYTES that are not an image', 400, /input "input" data\[0\]/, () =>
      post(
        v2,
        'application/json',
        tensorBody([1], [Buffer.from('not an image').toString('base64')], 'BYTES'),
      ),
    ),
    one('v2: truncated body', 400, /\{"error":"request body is not valid JSON/, () =>
      post(v2, 'application/json', '{"inputs": [{"name"'),
    ),
    {
      kind: 'v2: body aborted by the client',
      run: () =>
        exchange({
          head: `${[`POST ${v2} HTTP/1.1`, 'Host: x', 'Content-Type: application/json', 'Content-Length: 90000', '', ''].join(CRLF)}{"inputs": [`,
          abortAfterMs: 100,
        }),
    },
    // floods
    {
      kind: 'connections: more than SERVING_MAX_CONNECTIONS open at once',
      expect: { status: 503, error: /the server has 48 open connections, its limit/ },
      run: async () => '',
      mustSee: 503,
      many: async () => {
        // Hold 60 idle connections (the sampler holds one more), then release them.
        const socks = await Promise.all(
          Array.from(
            { length: 60 },
            () =>
              new Promise<{ sock: ReturnType<typeof connect>; data: Buffer[] }>((resolve) => {
                const data: Buffer[] = [];
                const sock = connect(port, '127.0.0.1', () => resolve({ sock, data }));
                sock.on('data', (d: Buffer) => data.push(d));
                sock.on('error', () => undefined);
              }),
          ),
        );
        await new Promise((r) => setTimeout(r, 500));
        const answers = socks
          .map((s) => Buffer.concat(s.data).toString('latin1'))
          .filter((a) => a.length > 0);
        for (const s of socks) s.sock.destroy();
        return answers;
      },
    },
    {
      kind: 'pixels: 12 concurrent requests of 4 x 2048x2048 (the process pixel budget)',
      expect: { status: [200, 503] },
      mustSee: 503,
      run: async () => '',
      many: () =>
        Promise.all(
          Array.from({ length: 12 }, () =>
            exchange({
              head: post(
                '/predict',
                'application/json',
                JSON.stringify({ images: new Array(4).fill(big.toString('base64')) }),
              ),
            }),
          ),
        ),
    },
  ];
}

// ---------------------------------------------------------------- metrics and the sampler

async function metric(name: string, labels = '', scraped?: string): Promise<number> {
  const text = scraped ?? (await (await fetch(`${base}/metrics`)).text());
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  if (!line) throw new Error(`no ${name}${labels} in /metrics`);
  return Number(line.split(' ')[1]);
}

/** Cumulative counts of serving_event_loop_busy_seconds: all ticks, those <= 100 ms, and the highest non-empty bucket. */
async function loopBusy(): Promise<{ count: number; le100ms: number; maxBucket: string; text: string }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  const buckets = [...text.matchAll(/^serving_event_loop_busy_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)];
  const count = value(/^serving_event_loop_busy_seconds_count (\d+)$/m);
  const full = buckets.find(([, , n]) => Number(n) === count);
  return {
    count,
    le100ms: value(/^serving_event_loop_busy_seconds_bucket\{le="0\.1"\} (\d+)$/m),
    maxBucket: full?.[1] ?? '?',
    text,
  };
}

const SAMPLER = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const url = process.argv[1] + '/healthz';
const lat = [];
const at = [];
let stop = false;
const one = () => {
  const t = performance.now();
  const req = http.get(url, { agent }, (res) => {
    res.resume();
    res.on('end', () => {
      lat.push(res.statusCode === 200 ? performance.now() - t : -res.statusCode);
      at.push(Date.now());
      if (lat.length === 1) process.stdout.write('ready\\n');
      next();
    });
  });
  req.on('error', () => { lat.push(-1); next(); });
};
const next = () => { if (!stop) setTimeout(one, 10); };
one();
process.stdin.on('data', () => { stop = true; process.stdout.write(JSON.stringify({ lat, at }) + '\\n'); process.exit(0); });
`;

/** /healthz latencies sampled every 10 ms by a separate process until `stop()`; `ready` after its first probe. */
function startSampler(): { ready: Promise<void>; stop(): Promise<{ lat: number[]; at: number[] }> } {
  const proc: ChildProcess = spawn(process.execPath, ['-e', SAMPLER, base], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  return {
    ready,
    stop: async () => {
      const done = new Promise((r) => proc.on('exit', r));
      proc.stdin!.write('stop\n');
      await done;
      return JSON.parse(out.trim().split('\n').at(-1)!) as { lat: number[]; at: number[] };
    },
  };
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

// ---------------------------------------------------------------- the test

test('hostile requests: the process never exits, every answer is a JSON 4xx/503, /healthz stays fast, memory and tensors return', async () => {
  cases = await buildCases();
  expect(cases.length).toBeGreaterThanOrEqual(30);
  const valid = () => exchange({ head: post('/predict', 'image/png', Buffer.from(shapePng('circle'))) });
  // Warm-up (so the baseline includes what a normal request allocates once), then the baseline.
  for (let i = 0; i < 5; i++) expect(parseAnswer(await valid())?.status).toBe(200);
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = await metric('process_resident_memory_bytes');
  const mainBefore = await metric('serving_tfjs_tensors', '{thread="main"}');
  const workerBefore = await metric('serving_tfjs_tensors', '{thread="worker"}');

  const busyBefore = await loopBusy();
  const sampler = startSampler();
  await sampler.ready;
  const failures: string[] = [];
  const check = (c: Case, raw: string) => {
    if (!c.expect) return;
    const a = parseAnswer(raw);
    const statuses = [c.expect.status].flat();
    if (!a) {
      failures.push(`${c.kind}: no answer (${JSON.stringify(raw.slice(0, 200))})`);
      return;
    }
    if (!statuses.includes(a.status))
      failures.push(`${c.kind}: status ${a.status}, expected ${statuses.join('/')}: ${a.body.slice(0, 300)}`);
    if (a.status === 200) return;
    if (!/^application\/json/.test(a.headers['content-type'] ?? ''))
      failures.push(`${c.kind}: not JSON (${a.headers['content-type']})`);
    if (a.headers['x-content-type-options'] !== 'nosniff')
      failures.push(`${c.kind}: no X-Content-Type-Options`);
    let error = '';
    try {
      error = (JSON.parse(a.body) as { error?: string }).error ?? '';
    } catch {
      failures.push(`${c.kind}: body is not JSON: ${a.body.slice(0, 200)}`);
    }
    if (!error) failures.push(`${c.kind}: no "error" in the body`);
    if (c.expect.error && !c.expect.error.test(error) && !c.expect.error.test(a.body)) {
      failures.push(
        `${c.kind}: error ${JSON.stringify(error.slice(0, 300))} does not match ${c.expect.error}`,
      );
    }
    if (a.status === 503 && !a.headers['retry-after']) failures.push(`${c.kind}: 503 without Retry-After`);
  };

  // Four cases at a time: hostile traffic overlaps, as it would on a pod.
  // HOSTILE_PROFILE=1: one at a time, printing the server's event-loop delay
  // max per case (prom-client resets it at each scrape), to find a case that
  // holds the loop.
  const profile = process.env.HOSTILE_PROFILE === '1';
  const queue = [...cases];
  const seen503 = new Map<string, number>();
  const spans: { kind: string; from: number; to: number }[] = [];
  await Promise.all(
    Array.from({ length: profile ? 1 : 4 }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        if (profile) await fetch(`${base}/metrics`);
        const span = { kind: c.kind, from: Date.now(), to: Number.POSITIVE_INFINITY };
        spans.push(span);
        if (c.many) {
          const answers = await c.many();
          for (const raw of answers) check(c, raw);
          const n = answers.filter((r) => parseAnswer(r)?.status === (c.mustSee ?? 503)).length;
          seen503.set(c.kind, n);
          if (n === 0) failures.push(`${c.kind}: no answer with status ${c.mustSee}`);
        } else {
          check(c, await c.run());
        }
        span.to = Date.now();
        if (profile) {
          const m = await (await fetch(`${base}/metrics`)).text();
          const max = await metric('nodejs_eventloop_lag_max_seconds', '', m);
          console.log(
            `profile: ${(max * 1000).toFixed(1)} ms event-loop delay max, ${span.to - span.from} ms: ${c.kind}`,
          );
        }
        if (exitedEarly !== undefined) failures.push(`the server exited (${exitedEarly}) after "${c.kind}"`);
      }
    }),
  );
  const { lat: latencies, at } = await sampler.stop();
  // Name the cases that overlapped each slow probe: the first thing to read when the bound fails.
  for (const [i, l] of latencies.entries()) {
    if (l < 100) continue;
    const end = at[i]!;
    const during = spans.filter((sp) => sp.from <= end && sp.to >= end - l).map((sp) => sp.kind);
    console.log(`slow /healthz probe: ${l.toFixed(0)} ms, during: ${during.join(' | ')}`);
  }

  expect(failures).toEqual([]);
  expect(exitedEarly).toBeUndefined();
  expect(server.proc.exitCode).toBeNull();
  // The server still answers, and the next valid request succeeds.
  expect(parseAnswer(await valid())?.status).toBe(200);

  // /healthz stayed responsive while the suite ran. Every probe of the sampler
  // answered 200; and the server's event loop never ran long without a break:
  // serving_event_loop_busy_seconds observes the main thread's CPU time
  // between ticks of a 10 ms timer (serving/loop-monitor.ts), so the p99 of a
  // probe's wait for the loop is under 100 ms when under 1% of those
  // observations reach 100 ms. CPU time, not wall time: on a machine shared
  // with other work the OS not running the server is not the server holding
  // its loop. The wall-clock figures (event-loop delay, probe round trip) are
  // printed beside it.
  const busyAfter = await loopBusy();
  const ticks = busyAfter.count - busyBefore.count;
  const over100 = ticks - (busyAfter.le100ms - busyBefore.le100ms);
  const scrape = busyAfter.text; // prom-client resets its event-loop delay histogram at each scrape
  const loopP99 = (await metric('nodejs_eventloop_lag_p99_seconds', '', scrape)) * 1000;
  const loopMax = (await metric('nodejs_eventloop_lag_max_seconds', '', scrape)) * 1000;
  const p99 = percentile(latencies, 99);
  console.log(
    `hostile suite: ${cases.length} kinds; event loop busy >= 100 ms (CPU) in ${over100} of ${ticks} ticks, longest busy stretch in bucket <= ${busyAfter.maxBucket} s; wall clock: event-loop delay p99 ${loopP99.toFixed(1)} ms, max ${loopMax.toFixed(1)} ms, /healthz round trip over ${latencies.length} probes p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs`,
  );
  expect(latencies.filter((l) => l < 0)).toEqual([]);
  expect(latencies.length).toBeGreaterThanOrEqual(50);
  expect(ticks).toBeGreaterThan(100);

  // Nothing held: gauges at rest, tensors at their baseline, RSS back near it.
  const deadline = Date.now() + 15_000;
  let rssAfter = Number.POSITIVE_INFINITY;
  while (Date.now() < deadline) {
    rssAfter = await metric('process_resident_memory_bytes');
    if (
      (await metric('serving_http_requests_in_flight')) === 1 && // this /metrics request
      (await metric('serving_decode_pixels_in_flight')) === 0 &&
      rssAfter - rssBefore < 160 * 1024 * 1024
    ) {
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(
    `RSS before ${(rssBefore / 2 ** 20).toFixed(0)} MiB, after ${(rssAfter / 2 ** 20).toFixed(0)} MiB`,
  );
  expect(await metric('serving_http_requests_in_flight')).toBe(1);
  expect(await metric('serving_decode_pixels_in_flight')).toBe(0);
  expect(await metric('serving_tfjs_tensors', '{thread="main"}')).toBe(mainBefore);
  expect(await metric('serving_tfjs_tensors', '{thread="worker"}')).toBe(workerBefore);
  expect(rssAfter - rssBefore).toBeLessThan(160 * 1024 * 1024);
  // Last, so that a failure here still shows every other result.
  expect(over100 / ticks).toBeLessThan(0.01);
}, 300_000);
