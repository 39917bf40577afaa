/**
 * The peer benchmark's numbers and their table: this server (Koa) and the
 * peer (FastAPI + TensorFlow/Keras) side by side per client count, with the
 * ratio koa / peer (above 1: this server does more requests per second or
 * uses more memory).
 */

/** One server at one client count. */
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

export interface Row {
  clients: number;
  koa: Measure;
  peer: Measure;
}

export interface Agreement {
  image: string;
  koa: string;
  peer: string;
  /** Largest absolute difference between the two servers' top-k probabilities. */
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

/** The side-by-side table (markdown). */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| clients | koa req/s | peer req/s | req/s koa/peer | koa p50 ms | peer p50 ms | koa p99 ms | peer p99 ms | p99 koa/peer | koa RSS MiB | peer RSS MiB | RSS koa/peer | errors koa/peer |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { clients, koa, peer } of rows) {
    lines.push(
      `| ${clients} | ${koa.rps} | ${peer.rps} | ${ratio(koa.rps, peer.rps)} | ${koa.p50} | ${peer.p50} | ${koa.p99} | ${peer.p99} | ${ratio(koa.p99, peer.p99)} | ${koa.rssPeakMiB} | ${peer.rssPeakMiB} | ${ratio(koa.rssPeakMiB, peer.rssPeakMiB)} | ${koa.errors + koa.non2xx}/${peer.errors + peer.non2xx} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The agreement check: each image's top-1 from both servers. */
export function agreementTable(rows: readonly Agreement[]): string {
  const lines = [
    '| image | koa top-1 | peer top-1 | same | max prob. diff |',
    '| --- | --- | --- | --- | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.image} | ${r.koa} | ${r.peer} | ${r.koa === r.peer ? 'yes' : 'NO'} | ${r.maxProbabilityDiff.toExponential(1)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A multipart/form-data body with one file field `image` (RFC 7578), fixed boundary. */
export function multipartBody(
  png: Uint8Array,
  boundary = 'peer-bench-boundary',
): { body: Buffer; contentType: string } {
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="image.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    body: Buffer.concat([head, Buffer.from(png), tail]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
