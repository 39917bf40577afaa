import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import jpeg from 'jpeg-js';
import { type DecodedImage, defaultSpecFor, encodePng, toModelInput } from '../../model/preprocessing.ts';
import { ProjectError } from '../../platform/index.ts';
import { loadImageFolder } from './index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgfolder-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const gray = (w: number, h: number, v: number): DecodedImage => ({
  width: w,
  height: h,
  channels: 1,
  data: new Uint8Array(w * h).fill(v),
});

async function put(root: string, rel: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(root, rel);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, bytes);
  return path;
}

async function rejection(p: Promise<unknown>): Promise<ProjectError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProjectError);
    return e as ProjectError;
  }
  throw new Error('expected a ProjectError');
}

describe('loadImageFolder', () => {
  it('reads one class per sorted sub-folder, PNG and JPEG, with POSIX ids', async () => {
    await put(dir, 'zebra/b.png', encodePng(gray(4, 4, 10)));
    await put(dir, 'zebra/nested/a.png', encodePng(gray(4, 4, 20)));
    const jpg = jpeg.encode({ width: 4, height: 4, data: Buffer.alloc(64, 200) }, 90).data;
    await put(dir, 'ant/photo.jpg', jpg);
    await put(dir, 'README.md', 'top-level files are ignored, as Keras does');
    await put(dir, 'ant/.DS_Store', 'hidden files are ignored');
    const progress: string[] = [];
    const ds = await loadImageFolder(dir, { onProgress: (d, t) => progress.push(`${d}/${t}`) });
    expect(ds.source).toBe('image-folder');
    expect(ds.root).toBe(dir);
    expect(ds.labels).toEqual(['ant', 'zebra']);
    expect(ds.items.map((i) => [i.id, i.label])).toEqual([
      ['ant/photo.jpg', 0],
      ['zebra/b.png', 1],
      ['zebra/nested/a.png', 1],
    ]);
    expect(ds.items[0]!.image.channels).toBe(3);
    expect(ds.items[2]!.image.data[0]).toBe(20);
    expect(progress).toEqual(['1/3', '2/3', '3/3']);
    expect(Object.keys(ds.digest.files)).toEqual(['ant/photo.jpg', 'zebra/b.png', 'zebra/nested/a.png']);
    expect(ds.digest.files['zebra/b.png']!.label).toBe('zebra');
    expect(ds.digest.root).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('loads images of mixed sizes; preprocessing brings them to the spec size', async () => {
    await put(dir, 'a/small.png', encodePng(gray(5, 3, 0)));
    await put(dir, 'a/big.png', encodePng(gray(64, 48, 255)));
    await put(
      dir,
      'b/rgb.png',
      encodePng({ width: 7, height: 9, channels: 3, data: new Uint8Array(189).fill(9) }),
    );
    const ds = await loadImageFolder(dir);
    expect(ds.items.map((i) => `${i.image.width}x${i.image.height}`).sort()).toEqual(['5x3', '64x48', '7x9']);
    const spec = defaultSpecFor({ width: 16, height: 16, channels: 1 });
    for (const item of ds.items) expect(toModelInput(item.image, spec).length).toBe(256);
  });

  it('gives the same digest for the same content, whatever the write order and mtimes', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await put(a, 'x/1.png', encodePng(gray(2, 2, 1)));
    await put(a, 'y/2.png', encodePng(gray(2, 2, 2)));
    await put(b, 'y/2.png', encodePng(gray(2, 2, 2)));
    await put(b, 'x/1.png', encodePng(gray(2, 2, 1)));
    await utimes(join(b, 'x/1.png'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const da = (await loadImageFolder(a)).digest;
    expect((await loadImageFolder(b)).digest).toEqual(da);

    await put(b, 'y/2.png', encodePng(gray(2, 2, 3))); // one pixel value changed
    expect((await loadImageFolder(b)).digest.root).not.toBe(da.root);

    const c = join(dir, 'c'); // same bytes, relabelled
    await put(c, 'x/1.png', encodePng(gray(2, 2, 1)));
    await put(c, 'z/2.png', encodePng(gray(2, 2, 2)));
    expect((await loadImageFolder(c)).digest.root).not.toBe(da.root);
  });

  describe('a folder with its own test set: train/ and test/', () => {
    it('reads both split folders with the same classes; ids keep the split folder, items say which', async () => {
      for (const [split, n] of [
        ['train', 3],
        ['test', 2],
      ] as const) {
        for (const cls of ['cat', 'dog'])
          for (let i = 0; i < n; i++)
            await put(dir, `${split}/${cls}/${i}.png`, encodePng(gray(2, 2, i + 1)));
      }
      const ds = await loadImageFolder(dir);
      expect(ds.labels).toEqual(['cat', 'dog']);
      expect(ds.splitFolders).toEqual(['train', 'test']);
      expect(ds.items.map((x) => `${x.subset} ${x.id} ${x.label}`)).toEqual([
        'train train/cat/0.png 0',
        'train train/cat/1.png 0',
        'train train/cat/2.png 0',
        'train train/dog/0.png 1',
        'train train/dog/1.png 1',
        'train train/dog/2.png 1',
        'test test/cat/0.png 0',
        'test test/cat/1.png 0',
        'test test/dog/0.png 1',
        'test test/dog/1.png 1',
      ]);
      expect(Object.keys(ds.digest.files)).toHaveLength(10);
      expect(ds.digest.files['test/dog/1.png']?.label).toBe('dog');
      expect(ds.digest.whole).toBeUndefined();
    });

    it('maxPerClass decodes only the first images of each class; every file is still in the whole digest', async () => {
      for (const split of ['train', 'test'])
        for (const cls of ['cat', 'dog'])
          for (let i = 0; i < 4; i++)
            await put(dir, `${split}/${cls}/${i}.png`, encodePng(gray(2, 2, i + 1)));
      const whole = await loadImageFolder(dir);
      const slice = await loadImageFolder(dir, { maxPerClass: { train: 2, test: 1 } });
      expect(slice.items.map((x) => x.id)).toEqual([
        'train/cat/0.png',
        'train/cat/1.png',
        'train/dog/0.png',
        'train/dog/1.png',
        'test/cat/0.png',
        'test/dog/0.png',
      ]);
      expect(slice.digest.whole).toBe(whole.digest.root);
      expect(slice.digest.selection).toEqual({ maxPerClassTrain: 2, maxPerClassTest: 1 });
      expect(slice.digest.root).not.toBe(whole.digest.root);
      expect((await loadImageFolder(dir, { maxPerClass: 3 })).items).toHaveLength(12);
    });

    it('refuses split folders whose classes differ, naming them', async () => {
      await put(dir, 'train/cat/0.png', encodePng(gray(2, 2, 1)));
      await put(dir, 'train/dog/0.png', encodePng(gray(2, 2, 1)));
      await put(dir, 'test/cat/0.png', encodePng(gray(2, 2, 1)));
      await put(dir, 'test/cow/0.png', encodePng(gray(2, 2, 1)));
      const e = await rejection(loadImageFolder(dir));
      expect(e.message).toContain(
        `${dir}: train/ and test/ have different classes (only in train/: dog; only in test/: cow)`,
      );
    });

    it('reads classes named train and test holding images as classes', async () => {
      await put(dir, 'train/0.png', encodePng(gray(2, 2, 1)));
      await put(dir, 'test/0.png', encodePng(gray(2, 2, 1)));
      const ds = await loadImageFolder(dir);
      expect(ds.labels).toEqual(['test', 'train']);
      expect(ds.splitFolders).toBeUndefined();
    });
  });

  describe('bad input: one ProjectError naming the path and what to do', () => {
    it('a data path that does not exist', async () => {
      const missing = join(dir, 'nope');
      const e = await rejection(loadImageFolder(missing));
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toContain(`${missing}: data path does not exist`);
      expect(e.hint).toContain('one sub-folder per class');
    });

    it('a data path that is a file', async () => {
      const file = await put(dir, 'file.png', encodePng(gray(2, 2, 0)));
      const e = await rejection(loadImageFolder(file));
      expect(e.code).toBe('INVALID');
      expect(e.message).toContain(`${file}: data path is a file, not a folder`);
    });

    it('a folder with no class sub-folders', async () => {
      await put(dir, 'loose.png', encodePng(gray(2, 2, 0)));
      const e = await rejection(loadImageFolder(dir));
      expect(e.code).toBe('INVALID');
      expect(e.message).toContain(`${dir}: no class sub-folders`);
    });

    it('a class folder with no images', async () => {
      await put(dir, 'cats/1.png', encodePng(gray(2, 2, 0)));
      await mkdir(join(dir, 'dogs'));
      await put(dir, 'dogs/.hidden', 'x');
      const e = await rejection(loadImageFolder(dir));
      expect(e.code).toBe('INVALID');
      expect(e.subject).toBe(join(dir, 'dogs'));
      expect(e.message).toContain(`${join(dir, 'dogs')}: class folder "dogs" has no images`);
      expect(e.hint).toContain('add PNG or JPEG images to it, or remove the folder');
    });

    it('an empty (0 byte) image', async () => {
      await put(dir, 'cats/1.png', encodePng(gray(2, 2, 0)));
      const bad = await put(dir, 'cats/empty.png', new Uint8Array(0));
      const e = await rejection(loadImageFolder(dir));
      expect(e.code).toBe('INVALID');
      expect(e.subject).toBe(bad);
      expect(e.message).toContain(`${bad}: empty file (0 bytes)`);
    });

    it('a non-image file (notes.txt) in a class folder', async () => {
      await put(dir, 'cats/1.png', encodePng(gray(2, 2, 0)));
      const bad = await put(dir, 'cats/notes.txt', 'remember to feed the cats');
      const e = await rejection(loadImageFolder(dir));
      expect(e.subject).toBe(bad);
      expect(e.message).toContain(`${bad}: not an image`);
    });

    it('a .png that is not a PNG', async () => {
      await put(dir, 'cats/1.png', encodePng(gray(2, 2, 0)));
      const bad = await put(dir, 'cats/fake.png', '<html>not found</html>');
      const e = await rejection(loadImageFolder(dir));
      expect(e.message).toContain(`${bad}: not an image`);
    });

    it('an unreadable (truncated) image', async () => {
      await put(dir, 'cats/1.png', encodePng(gray(2, 2, 0)));
      const full = encodePng(gray(32, 32, 7));
      const bad = await put(dir, 'cats/cut.png', full.subarray(0, full.length - 40));
      const e = await rejection(loadImageFolder(dir));
      expect(e.code).toBe('INVALID');
      expect(e.message).toContain(`${bad}: truncated or corrupt PNG`);
      expect(e.hint).toContain('re-export it');
    });

    it('several bad files: one error that lists each of them', async () => {
      await put(dir, 'cats/1.png', encodePng(gray(2, 2, 0)));
      const a = await put(dir, 'cats/a.png', new Uint8Array(0));
      const b = await put(dir, 'dogs/b.txt', 'text');
      const e = await rejection(loadImageFolder(dir));
      expect(e.code).toBe('INVALID');
      expect(e.message).toContain('2 files are not usable images');
      expect(e.message).toContain(`${a}: empty file`);
      expect(e.message).toContain(`${b}: not an image`);
    });

    it('an image over the pixel limit', async () => {
      const bad = await put(dir, 'cats/huge.png', encodePng(gray(50, 50, 0)));
      const e = await rejection(loadImageFolder(dir, { maxPixels: 100 }));
      expect(e.code).toBe('TOO_LARGE');
      expect(e.subject).toBe(bad);
    });
  });
});
