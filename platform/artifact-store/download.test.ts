import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type FolderServer, makeArtifact, serveFolder, tempDir } from '../../testing/lock/fixtures.ts';
import { sha256 } from '../digest.ts';
import { downloadArtifact } from './download.ts';
import { fetchArtifactFile, hashArtifactFile } from './fetch.ts';
import type { ArtifactStoreOptions } from './location.ts';

/** The whole content of an artifact file, through its stream. */
async function readArtifactFile(
  uri: string,
  file: string,
  options: ArtifactStoreOptions = {},
): Promise<Uint8Array> {
  const { body } = await fetchArtifactFile(uri, file, options);
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

let root: string;
let files: Record<string, string>;
let rootHex: string;
let server: FolderServer;
beforeAll(async () => {
  root = await tempDir('artifact-store-');
  ({ files, root: rootHex } = await makeArtifact(join(root, 'src'), 5));
  server = await serveFolder(root, { prefix: '/a' });
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe('fetchArtifactFile', () => {
  it('streams the same bytes from a folder and from an HTTP URL', async () => {
    const local = await readArtifactFile('src', 'weights.bin', { baseDir: root });
    const remote = await readArtifactFile(`${server.url}/a/src`, 'weights.bin');
    expect(Buffer.compare(Buffer.from(local), Buffer.from(remote))).toBe(0);
    expect(sha256(local)).toBe(files['weights.bin']);
    expect(await hashArtifactFile(`${server.url}/a/src/`, 'model.json')).toEqual({
      sha256: files['model.json'],
      bytes: (await readFile(join(root, 'src/model.json'))).length,
      source: `${server.url}/a/src/model.json`,
    });
  });

  it('refuses file names that leave the folder', async () => {
    await expect(fetchArtifactFile('src', '../secret', { baseDir: root })).rejects.toThrow(
      'artifact file name "../secret" of src is not a plain relative path',
    );
    await expect(fetchArtifactFile('src', '/etc/passwd', { baseDir: root })).rejects.toMatchObject({
      code: 'INVALID',
    });
  });

  it('says UNAVAILABLE naming the URL when nothing listens', async () => {
    const down = await serveFolder(root);
    await down.close();
    await expect(fetchArtifactFile(`${down.url}/a/src`, 'model.json')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining(`GET ${down.url}/a/src/model.json failed (ECONNREFUSED)`),
    });
  });
});

describe('downloadArtifact', () => {
  it('downloads every file, checking each sha256, then reuses files already there', async () => {
    const dest = join(root, 'dest-ok');
    const r = await downloadArtifact(`${server.url}/a/src`, files, dest, { rootDigest: rootHex });
    expect(r.fetched).toEqual(Object.keys(files).sort());
    for (const [name, hex] of Object.entries(files))
      expect(sha256(await readFile(join(dest, name)))).toBe(hex);
    const again = await downloadArtifact(`${server.url}/a/src`, files, dest);
    expect(again).toEqual({ dir: dest, fetched: [], reused: Object.keys(files).sort() });
  });

  it('fails naming the file, expected and actual, and leaves no file behind', async () => {
    const dest = join(root, 'dest-bad');
    const wrong = { ...files, 'weights.bin': 'f'.repeat(64) };
    await expect(downloadArtifact('src', wrong, dest, { baseDir: root })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringContaining(
        `artifact file "weights.bin" from ${join(root, 'src/weights.bin')}: sha256 ${files['weights.bin']}, expected ${'f'.repeat(64)}`,
      ),
    });
    expect(await readdir(dest)).toEqual([]);
  });

  it('replaces a corrupt cached file instead of trusting it', async () => {
    const dest = join(root, 'dest-cache');
    await downloadArtifact('src', files, dest, { baseDir: root });
    await writeFile(join(dest, 'model.json'), 'tampered');
    const r = await downloadArtifact('src', files, dest, { baseDir: root });
    expect(r.fetched).toEqual(['model.json']);
    expect(sha256(await readFile(join(dest, 'model.json')))).toBe(files['model.json']);
  });

  it('checks the root digest before fetching anything', async () => {
    await expect(
      downloadArtifact('src', files, join(root, 'dest-root'), { baseDir: root, rootDigest: '0'.repeat(64) }),
    ).rejects.toThrow(/the file digests of src add up to [0-9a-f]{64}, not to the pinned root digest 0{64}/);
  });
});
