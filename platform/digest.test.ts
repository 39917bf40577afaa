import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { listFiles, rootDigest, sha256, sha256File } from './digest.ts';

describe('digests', () => {
  it('hashes bytes and files identically (sha256 of "abc" is the FIPS 180-2 vector)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dg-'));
    await writeFile(join(dir, 'f'), 'abc');
    const expected = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(sha256('abc')).toBe(expected);
    expect(await sha256File(join(dir, 'f'))).toBe(expected);
  });
  it('lists files recursively as sorted POSIX paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dg-'));
    await mkdir(join(dir, 'b', 'c'), { recursive: true });
    await writeFile(join(dir, 'z.txt'), '1');
    await writeFile(join(dir, 'b', 'c', 'a.txt'), '2');
    expect(await listFiles(dir)).toEqual(['b/c/a.txt', 'z.txt']);
  });
  it('root digest is independent of key order and changes with any file', () => {
    const a = rootDigest({ x: '1', y: '2' });
    expect(rootDigest({ y: '2', x: '1' })).toBe(a);
    expect(rootDigest({ x: '1', y: '3' })).not.toBe(a);
    expect(a).toBe(sha256('1  x\n2  y\n'));
  });
});
