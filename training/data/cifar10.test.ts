/**
 * CIFAR-10: a SMALL archive of the official binary format (a few records per
 * batch file), built here and served from a loopback HTTP server, stands in
 * for the 170 MB download.
 */

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ProjectError } from '../../platform/index.ts';
import { CIFAR10_RECORD_BYTES } from './cifar10.ts';
import { CIFAR10_MD5, CIFAR10_URL, loadCifar10, readTarFile, tarBytes, writeTarGz } from './index.ts';

const LABELS = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const BATCHES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
];

/** Encode records in the CIFAR-10 binary layout: label, then the red, green and blue planes. */
function encodeCifar10Records(records: readonly { label: number; rgb: Uint8Array }[]): Uint8Array {
  const out = new Uint8Array(records.length * CIFAR10_RECORD_BYTES);
  records.forEach((rec, r) => {
    const o = r * CIFAR10_RECORD_BYTES;
    out[o] = rec.label;
    for (let p = 0; p < 1024; p++) {
      out[o + 1 + p] = rec.rgb[p * 3]!;
      out[o + 1 + 1024 + p] = rec.rgb[p * 3 + 1]!;
      out[o + 1 + 2 * 1024 + p] = rec.rgb[p * 3 + 2]!;
    }
  });
  return out;
}

/** Record r of batch b: label (b + r) % 10, pixel p = [r, g, b] with distinct planes. */
function batch(b: number, records: number): Uint8Array {
  return encodeCifar10Records(
    Array.from({ length: records }, (_, r) => {
      const rgb = new Uint8Array(32 * 32 * 3);
      for (let p = 0; p < 1024; p++) rgb.set([(p + b) % 256, (r * 7) % 256, 200 + b], p * 3);
      return { label: (b + r) % 10, rgb };
    }),
  );
}

function files(records = 3): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {
    'batches.meta.txt': new TextEncoder().encode(`${LABELS.join('\n')}\n\n`),
  };
  BATCHES.forEach((name, i) => {
    out[name] = batch(i + 1, records);
  });
  out['test_batch.bin'] = batch(9, records);
  return out;
}

const archive = gzipSync(
  await tarBytes([
    ...Object.entries(files()).map(([name, data]) => ({ name: `cifar-10-batches-bin/${name}`, data })),
    { name: 'cifar-10-batches-bin/readme.html', data: new TextEncoder().encode('<p>readme</p>') },
  ]),
);
const archiveMd5 = createHash('md5').update(archive).digest('hex');

let server: Server;
let base: string;
const hits: string[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/cifar-10-binary.tar.gz') {
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': archive.length });
      res.end(archive);
    } else if (req.url === '/not-gzip.tar.gz') {
      res.end('hello');
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((done) => server.close(done));
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cifar-'));
  hits.length = 0;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<ProjectError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProjectError);
    return e as ProjectError;
  }
  throw new Error('expected a ProjectError');
}

describe('loadCifar10', () => {
  it('defaults to the official archive and md5', () => {
    expect(CIFAR10_URL).toBe('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
    expect(CIFAR10_MD5).toBe('c32a1d4ab5d03f1284b67883e8d87530');
  });

  it('downloads into an empty folder, checks the md5, extracts and reads the records', async () => {
    const root = join(dir, 'cifar'); // does not exist yet
    const progress: number[] = [];
    let barText = '';
    const bar = new PassThrough();
    bar.on('data', (chunk: Buffer) => {
      barText += chunk.toString();
    });
    const ds = await loadCifar10(root, {
      url: `${base}/cifar-10-binary.tar.gz`,
      md5: archiveMd5,
      onProgress: (done, total) => {
        expect(total).toBe(archive.length);
        progress.push(done);
      },
      progressBar: bar,
    });
    expect(barText).toContain('cifar-10-binary.tar.gz [');
    expect(barText).toContain(`100% ${archive.length}/${archive.length} bytes`);
    expect(progress.at(-1)).toBe(archive.length);
    expect(hits).toEqual(['/cifar-10-binary.tar.gz']);
    expect((await readdir(root)).sort()).toEqual(['batches.meta.txt', ...BATCHES, 'test_batch.bin']);
    expect(ds.source).toBe('cifar10');
    expect(ds.labels).toEqual(LABELS);
    expect(ds.items).toHaveLength(18);
    expect(ds.items.map((i) => i.id).slice(0, 4)).toEqual([
      'data_batch_1.bin#0',
      'data_batch_1.bin#1',
      'data_batch_1.bin#2',
      'data_batch_2.bin#0',
    ]);
    // Record 2 of data_batch_3: label (3 + 2) % 10, planes R, G, B interleaved to HWC.
    const item = ds.items.find((i) => i.id === 'data_batch_3.bin#2')!;
    expect(item.label).toBe(5);
    expect(item.image.width).toBe(32);
    expect(item.image.channels).toBe(3);
    expect([...item.image.data.subarray(0, 6)]).toEqual([3, 14, 203, 4, 14, 203]);
    expect(Object.entries(ds.digest.files).map(([f, v]) => `${f}:${v.label}`)).toEqual([
      'batches.meta.txt:meta',
      'data_batch_1.bin:train',
      'data_batch_2.bin:train',
      'data_batch_3.bin:train',
      'data_batch_4.bin:train',
      'data_batch_5.bin:train',
      'test_batch.bin:test',
    ]);

    // A second load reads the extracted files and downloads nothing.
    const again = await loadCifar10(root, { url: `${base}/cifar-10-binary.tar.gz`, md5: archiveMd5 });
    expect(hits).toHaveLength(1);
    expect(again.digest).toEqual(ds.digest);
  });

  it('refuses a download whose checksum is wrong, leaving nothing behind', async () => {
    const e = await rejection(
      loadCifar10(dir, { url: `${base}/cifar-10-binary.tar.gz`, md5: CIFAR10_MD5, progressBar: false }),
    );
    expect(e.code).toBe('DIGEST_MISMATCH');
    expect(e.message).toContain(
      `${base}/cifar-10-binary.tar.gz: md5 is ${archiveMd5}, expected ${CIFAR10_MD5}`,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('says which URL failed when the server answers 404', async () => {
    const e = await rejection(loadCifar10(dir, { url: `${base}/missing.tar.gz`, md5: archiveMd5 }));
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain(`${base}/missing.tar.gz: download failed (HTTP 404)`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a download that is not a gzip archive', async () => {
    const md5 = createHash('md5').update('hello').digest('hex');
    const e = await rejection(loadCifar10(dir, { url: `${base}/not-gzip.tar.gz`, md5 }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('not a gzip archive');
    expect(await readdir(dir)).toEqual([]);
  });

  it('reads the archive layout (cifar-10-batches-bin/) without downloading, and maxPerBatch', async () => {
    for (const [name, data] of Object.entries(files(5))) {
      await mkdir(join(dir, 'cifar-10-batches-bin'), { recursive: true });
      await writeFile(join(dir, 'cifar-10-batches-bin', name), data);
    }
    const full = await loadCifar10(dir, { download: false });
    expect(full.items).toHaveLength(30);
    const part = await loadCifar10(dir, { download: false, maxPerBatch: 2 });
    expect(part.items).toHaveLength(12);
    expect(part.digest.selection).toEqual({ maxPerBatch: 2 });
    expect(part.digest.root).not.toBe(full.digest.root);
  });

  it('names the missing files of a folder that is not CIFAR-10', async () => {
    await writeFile(join(dir, 'data_batch_1.bin'), batch(1, 1));
    const e = await rejection(loadCifar10(dir));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain(
      `${dir}: not a CIFAR-10 binary folder, missing batches.meta.txt, data_batch_2.bin`,
    );
    expect(hits).toEqual([]);
  });

  it('names a truncated batch file', async () => {
    for (const [name, data] of Object.entries(files(2))) await writeFile(join(dir, name), data);
    await writeFile(join(dir, 'data_batch_4.bin'), batch(4, 2).subarray(0, 5000));
    const e = await rejection(loadCifar10(dir));
    expect(e.code).toBe('INVALID');
    expect(e.subject).toBe(join(dir, 'data_batch_4.bin'));
    expect(e.message).toContain('5000 bytes is not a whole number of 3073-byte CIFAR-10 records');
  });

  it('does not download into an empty folder when download is false', async () => {
    const e = await rejection(loadCifar10(join(dir, 'absent'), { download: false }));
    expect(e.code).toBe('NOT_FOUND');
    expect(hits).toEqual([]);
  });
});

describe('tar (tar-stream)', () => {
  it('round-trips files of any name length, streamed, and the same files give the same bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tar-'));
    try {
      const long = `${'deep/'.repeat(30)}${'n'.repeat(120)}.png`;
      const files = [
        { name: 'a/b.txt', data: new TextEncoder().encode('x'.repeat(700)) },
        { name: 'c', data: new Uint8Array(0) },
        { name: long, data: new Uint8Array([1, 2, 3]) },
      ];
      await writeTarGz(join(dir, 'one.tar.gz'), files);
      await writeTarGz(join(dir, 'two.tar.gz'), files);
      const one = await readFile(join(dir, 'one.tar.gz'));
      expect(one.equals(await readFile(join(dir, 'two.tar.gz')))).toBe(true);
      const read: [string, string, number][] = [];
      await readTarFile(join(dir, 'one.tar.gz'), 'one.tar.gz', async (e, body) => {
        let n = 0;
        for await (const chunk of body) n += (chunk as Buffer).length;
        read.push([e.name, e.type, n]);
      });
      expect(read).toEqual([
        ['a/b.txt', 'file', 700],
        ['c', 'file', 0],
        [long, 'file', 3],
      ]);
      // An uncompressed tar reads the same way.
      await writeFile(join(dir, 'plain.tar'), await tarBytes(files));
      const names: string[] = [];
      await readTarFile(join(dir, 'plain.tar'), 'plain.tar', async (e) => {
        names.push(e.name);
      });
      expect(names).toEqual(['a/b.txt', 'c', long]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a truncated archive, tar or gzip, is INVALID naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tar-'));
    try {
      const tar = await tarBytes([{ name: 'a/b.txt', data: new TextEncoder().encode('x'.repeat(700)) }]);
      await writeFile(join(dir, 'x.tar'), tar.subarray(0, 800));
      await writeFile(join(dir, 'x.tar.gz'), gzipSync(tar).subarray(0, 40));
      for (const name of ['x.tar', 'x.tar.gz']) {
        const e = await readTarFile(join(dir, name), name, async () => undefined).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e).toMatchObject({
          code: 'INVALID',
          message: expect.stringMatching(
            new RegExp(`^${name.replace('.', '\\.')}: truncated (tar|gzip) archive \\(`),
          ),
        });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
