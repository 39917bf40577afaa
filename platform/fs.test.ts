import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ProjectError } from './errors.ts';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from './fs.ts';

describe('atomic writes', () => {
  it('replaces a file and leaves no temp file behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-'));
    const p = join(dir, 'a.json');
    await writeFile(p, 'old');
    await writeJsonAtomic(p, { b: 2, a: 1 });
    expect(await readFile(p, 'utf8')).toBe('{\n  "a": 1,\n  "b": 2\n}\n');
    expect(await readdir(dir)).toEqual(['a.json']);
  });
  it('keeps the previous file when the write fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-'));
    const p = join(dir, 'a.txt');
    await writeFile(p, 'previous');
    // A directory where the file should go makes the rename fail.
    await expect(writeFileAtomic(join(dir), 'x')).rejects.toThrow();
    expect(await readFile(p, 'utf8')).toBe('previous');
    expect(await readdir(dir)).toEqual(['a.txt']);
  });
});

describe('readJsonFile', () => {
  it('names the file when it is missing', async () => {
    const p = join(tmpdir(), 'does-not-exist-42.json');
    await expect(readJsonFile(p)).rejects.toThrow(`${p}: no such file`);
  });
  it('names the file when the JSON is broken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fs-'));
    const p = join(dir, 'bad.json');
    await writeFile(p, '{"a": ');
    const err = await readJsonFile(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectError);
    expect((err as ProjectError).code).toBe('INVALID');
    expect((err as Error).message).toMatch(`${p}: not valid JSON`);
  });
});
