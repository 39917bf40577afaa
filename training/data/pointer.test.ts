/**
 * Data pointers (training/data/pointer.ts) with the real fetch path: the
 * archive is served by a loopback HTTP server, downloaded with its sha256
 * checked, extracted, and the extracted folder must give the pointer's digest.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createObjectStore } from '../../platform/object-store/index.ts';
import { tempDir } from '../../testing/lock/fixtures.ts';
import { generateDemoDataset } from './generated.ts';
import { loadImageFolder } from './image-folder.ts';
import { type DataPointer, materializeDataPointer, packDataPointer, readDataPointer } from './pointer.ts';
import { loadDataSource } from './source.ts';
import { tarBytes } from './tar.ts';

let dir: string;
let server: Server;
let base = '';
/** Files the server serves, path → bytes; every request path it saw, and the Authorization headers. */
const served = new Map<string, Uint8Array>();
const requests: string[] = [];
const authorizations: (string | undefined)[] = [];
let pointer: DataPointer;
let folder: string;

beforeAll(async () => {
  dir = await tempDir('data-pointer-');
  folder = (await generateDemoDataset(join(dir, 'shapes'), { seed: 7, perClass: 3, size: 8 })).root;
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    authorizations.push(req.headers.authorization);
    const body = served.get(req.url ?? '');
    if (!body) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pointer = await packDataPointer(folder, {
    name: 'shapes',
    uri: `${base}/data/shapes.tar.gz`,
    archivePath: join(dir, 'shapes.tar.gz'),
    pointerPath: join(dir, 'data', 'shapes.json'),
  });
  served.set('/data/shapes.tar.gz', await readFile(join(dir, 'shapes.tar.gz')));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

describe('data pointers', () => {
  it('pack writes the archive and a pointer whose digest is the folder dataset digest', async () => {
    expect(pointer).toEqual({
      pointerVersion: 1,
      name: 'shapes',
      uri: `${base}/data/shapes.tar.gz`,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      digest: (await loadImageFolder(folder)).digest.root,
    });
    expect(await readDataPointer(join(dir, 'data', 'shapes.json'))).toEqual(pointer);
    // Deterministic: packing the same folder again gives the same archive bytes.
    const again = await packDataPointer(folder, {
      uri: pointer.uri,
      archivePath: join(dir, 'again.tar.gz'),
      pointerPath: join(dir, 'again.json'),
    });
    expect(again.sha256).toBe(pointer.sha256);
  });

  it('fetches over HTTP, checks the archive sha256, extracts, and gives the pointer digest; a second load fetches nothing', async () => {
    requests.length = 0;
    const target = join(dir, 'cache', 'shapes');
    const ds = await materializeDataPointer(pointer, target);
    expect(ds.digest.root).toBe(pointer.digest);
    expect(ds.labels).toEqual(['circle', 'cross', 'square', 'triangle']);
    expect(requests).toEqual(['/data/shapes.tar.gz']);
    expect((await readdir(join(dir, 'cache'))).filter((n) => n.startsWith('.'))).toEqual([]);
    await materializeDataPointer(pointer, target);
    expect(requests).toHaveLength(1);
  });

  it('through a training config: data.pointer loads the data and names its origin', async () => {
    const ds = await loadDataSource({
      kind: 'image-folder',
      path: join(dir, 'cache', 'via-config'),
      pointer: join(dir, 'data', 'shapes.json'),
    });
    expect(ds.digest.root).toBe(pointer.digest);
    expect(ds.origin).toEqual({
      name: 'shapes',
      source: { kind: 'http', url: pointer.uri },
      pointer: join(dir, 'data', 'shapes.json'),
    });
    await expect(
      loadDataSource({ kind: 'generated', path: join(dir, 'g'), pointer: join(dir, 'data', 'shapes.json') }),
    ).rejects.toThrow('data.pointer needs data.kind "image-folder" (got "generated")');
  });

  it('refuses an archive whose sha256 is not the pointer one, leaving nothing behind', async () => {
    served.set(
      '/data/other.tar.gz',
      gzipSync(await tarBytes([{ name: 'a/x.png', data: new Uint8Array([1]) }])),
    );
    const target = join(dir, 'cache', 'wrong-sha');
    const err = await materializeDataPointer({ ...pointer, uri: `${base}/data/other.tar.gz` }, target).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect((err as Error).message).toContain(`${base}/data/other.tar.gz: sha256 is `);
    expect((err as Error).message).toContain(
      `expected ${pointer.sha256}; the download was refused and deleted`,
    );
    expect((await readdir(join(dir, 'cache'))).filter((n) => n.includes('wrong-sha'))).toEqual([]);
  });

  it('refuses data whose files do not give the pointer digest, naming both digests', async () => {
    const edited = { ...pointer, digest: `sha256:${'0'.repeat(64)}` };
    await expect(
      materializeDataPointer(edited, join(dir, 'cache', 'edited'), { pointerPath: 'data/shapes.json' }),
    ).rejects.toThrow(
      `data/shapes.json: the data at ${pointer.uri} gives dataset digest ${pointer.digest}, but the pointer says sha256:${'0'.repeat(64)}`,
    );
  });

  it('refuses an archive entry that would leave the data folder', async () => {
    const evil = gzipSync(await tarBytes([{ name: '../escape.png', data: new Uint8Array([1, 2, 3]) }]));
    served.set('/data/evil.tar.gz', evil);
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(evil).digest('hex');
    await expect(
      materializeDataPointer(
        { ...pointer, uri: `${base}/data/evil.tar.gz`, sha256 },
        join(dir, 'cache', 'evil'),
      ),
    ).rejects.toThrow('archive entries leave the data folder: ../escape.png');
    await expect(readFile(join(dir, 'cache', 'escape.png'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never overwrites a folder that did not come from a pointer', async () => {
    const mine = join(dir, 'mine');
    await generateDemoDataset(mine, { seed: 1, perClass: 1, size: 8 });
    await writeFile(join(mine, 'notes.txt'), 'mine');
    await expect(materializeDataPointer(pointer, mine)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await readFile(join(mine, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it("an http(s) archive never gets the object store's credentials, even on the store's own host", async () => {
    // The store is configured with its endpoint on this very server: the pointer's http URL
    // is still fetched as a plain URL, without the store's key or any signature.
    const store = createObjectStore({
      endpoint: base,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'store-secret-key-1234' },
      forcePathStyle: true,
    });
    authorizations.length = 0;
    const ds = await materializeDataPointer(pointer, join(dir, 'cache', 'no-credentials'), {
      objectStore: store,
    });
    store.close();
    expect(ds.digest.root).toBe(pointer.digest);
    expect(authorizations).toEqual([undefined]);
  });

  it('an s3:// pointer needs the object store, and says how to configure it', async () => {
    const err = (await materializeDataPointer(
      { ...pointer, uri: 's3://datasets/shapes.tar.gz' },
      join(dir, 'cache', 's3-without-store'),
    ).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('INVALID');
    expect(err.message).toBe(
      's3://datasets/shapes.tar.gz is in the object store, and none is configured\n' +
        '  → set OBJECT_STORE_ENDPOINT (or OBJECT_STORE_REGION for Amazon S3), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  });

  it('a pointer whose s3:// uri carries credentials is refused naming the file, without the secret', async () => {
    const path = join(dir, 'data', 'with-key.json');
    await writeFile(
      path,
      JSON.stringify({ ...pointer, uri: 's3://AKID:wJalrXUtnFEMI@datasets/shapes.tar.gz' }),
    );
    const err = (await readDataPointer(path).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('INVALID');
    expect(err.message.split('\n')[0]).toBe(
      `${path}: uri: s3://***@datasets/shapes.tar.gz: an s3:// URL carries no credentials`,
    );
    expect(err.message).not.toContain('wJalrXUtnFEMI');
    await writeFile(path, JSON.stringify({ ...pointer, uri: 's3://datasets/shapes.tar.gz' }));
    expect((await readDataPointer(path)).uri).toBe('s3://datasets/shapes.tar.gz');
  });

  it('a pointer with a bad field is refused, naming every field', async () => {
    const path = join(dir, 'data', 'bad.json');
    await writeFile(
      path,
      JSON.stringify({
        pointerVersion: 1,
        name: 'Shapes',
        uri: 'ftp://x',
        sha256: 'abc',
        digest: 'x',
        extra: 1,
      }),
    );
    const err = (await readDataPointer(path).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`${path} is invalid`);
    for (const field of ['/name', '/uri', '/sha256', '/digest']) expect(err.message).toContain(field);
    expect(err.message).toContain('unknown field "extra"');
  });
});
