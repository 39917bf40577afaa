import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { decodeImage } from '../../model/preprocessing.ts';
import { ProjectError } from '../../platform/index.ts';
import { GENERATED_MARKER, generateDemoDataset, loadDataSource, loadImageFolder } from './index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'generated-'));
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

describe('generateDemoDataset', () => {
  it('writes real PNG files, one sub-folder per shape, read back as an image folder', async () => {
    const root = join(dir, 'shapes');
    const gen = await generateDemoDataset(root, { seed: 1, perClass: 20 });
    expect(gen).toEqual({ root, labels: ['circle', 'cross', 'square', 'triangle'], files: 80 });
    expect((await readdir(root)).sort()).toEqual([GENERATED_MARKER, 'circle', 'cross', 'square', 'triangle']);
    const bytes = await readFile(join(root, 'triangle', 'triangle_0019.png'));
    expect(await decodeImage(bytes)).toMatchObject({ width: 16, height: 16, channels: 1 });
    const ds = await loadImageFolder(root);
    expect(ds.labels).toEqual(gen.labels);
    expect(ds.items).toHaveLength(80);
    expect(ds.items.filter((i) => i.label === 3)).toHaveLength(20);
    // Not blank: every image has a shape that stands out from its ground.
    for (const item of ds.items) {
      const px = [...item.image.data];
      expect(Math.max(...px) - Math.min(...px)).toBeGreaterThan(60);
    }
  });

  it('is deterministic from the seed: same seed, same digest; other seed, other digest', async () => {
    const a = await loadDataSource({ kind: 'generated', path: join(dir, 'a'), seed: 7, perClass: 10 });
    const b = await loadDataSource({ kind: 'generated', path: join(dir, 'b'), seed: 7, perClass: 10 });
    const c = await loadDataSource({ kind: 'generated', path: join(dir, 'c'), seed: 8, perClass: 10 });
    expect(a.source).toBe('generated');
    expect(b.digest).toEqual(a.digest);
    expect(c.digest.root).not.toBe(a.digest.root);
  });

  it('writes RGB images of another size when asked', async () => {
    const root = join(dir, 'rgb');
    await generateDemoDataset(root, { seed: 1, perClass: 2, channels: 3 });
    const img = await decodeImage(await readFile(join(root, 'circle', 'circle_0000.png')));
    expect(img).toMatchObject({ width: 32, height: 32, channels: 3 });
    await rm(root, { recursive: true });
    await generateDemoDataset(root, { seed: 1, perClass: 2, size: 24 });
    expect(await decodeImage(await readFile(join(root, 'cross', 'cross_0001.png')))).toMatchObject({
      width: 24,
      channels: 1,
    });
  });

  it('leaves its own folder alone when the settings are the same, and replaces it when they differ', async () => {
    const root = join(dir, 'own');
    await generateDemoDataset(root, { seed: 3, perClass: 3 });
    await writeFile(join(root, 'circle', 'circle_0000.png'), 'tampered'); // would be rewritten if regenerated
    await generateDemoDataset(root, { seed: 3, perClass: 3 });
    expect(await readFile(join(root, 'circle', 'circle_0000.png'), 'utf8')).toBe('tampered');
    await generateDemoDataset(root, { seed: 3, perClass: 2 });
    expect((await readdir(join(root, 'circle'))).sort()).toEqual(['circle_0000.png', 'circle_0001.png']);
    expect((await decodeImage(await readFile(join(root, 'circle', 'circle_0000.png')))).width).toBe(16);
    expect((await readdir(dir)).sort()).toEqual(['own']); // no temp folders left over
  });

  it('generates into an existing empty folder', async () => {
    const root = join(dir, 'empty');
    await mkdir(root);
    expect((await generateDemoDataset(root, { seed: 1, perClass: 1 })).files).toBe(4);
  });

  it('refuses to write into a non-empty folder it did not write, and changes nothing', async () => {
    const root = join(dir, 'mine');
    await mkdir(join(root, 'cats'), { recursive: true });
    await writeFile(join(root, 'cats', 'precious.png'), 'do not lose me');
    const e = await rejection(generateDemoDataset(root, { seed: 1, perClass: 2 }));
    expect(e.code).toBe('CONFLICT');
    expect(e.message).toContain(`${root}: folder is not empty and was not written by the generator`);
    expect(e.hint).toContain('nothing was changed');
    expect(await readdir(root)).toEqual(['cats']);
    expect(await readFile(join(root, 'cats', 'precious.png'), 'utf8')).toBe('do not lose me');
    expect((await readdir(dir)).sort()).toEqual(['mine']);
  });

  it('names a bad setting', async () => {
    const e = await rejection(generateDemoDataset(join(dir, 'x'), { seed: 1, perClass: 0 }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('perClass is 0, expected an integer >= 1');
    const e2 = await rejection(generateDemoDataset(join(dir, 'x'), { seed: 1.5 }));
    expect(e2.message).toContain('seed is 1.5');
    expect((await readdir(dir)).sort()).toEqual([]);
  });
});

describe('loadDataSource', () => {
  it('reads an image folder and refuses an unknown kind', async () => {
    await generateDemoDataset(join(dir, 'g'), { seed: 2, perClass: 2 });
    const ds = await loadDataSource({ kind: 'image-folder', path: join(dir, 'g') });
    expect(ds.source).toBe('image-folder');
    expect(ds.items).toHaveLength(8);
    const e = await rejection(loadDataSource({ kind: 'parquet' as 'generated', path: dir }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('data source kind "parquet" is not known');
  });
});
