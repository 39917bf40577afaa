/**
 * Batch scoring into a local folder with a real (tiny) model artifact: the
 * records are capture/v1, an interrupted run keeps its batches and a re-run
 * skips them and says so, a bad image is an error record, a missing version
 * or a changed artifact file stops the run with the error a user sees.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { addCandidate, emptyLock, pinVersion, writeLock } from '../../lock/index.ts';
import { parseCaptureLines } from '../../model/capture.ts';
import { main as scoreMain } from '../../scripts/score.ts';
import { makeEntry } from '../../testing/lock/fixtures.ts';
import {
  FIXTURE_LABELS,
  type FixtureArtifact,
  shapePng,
  writeFixtureArtifact,
} from '../../testing/serving/fixture.ts';
import { parseLocation } from './io.ts';
import { scoreImages } from './score.ts';

let root: string;
let fixture: FixtureArtifact;
let lockPath: string;
let images: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'scoring-test-'));
  fixture = await writeFixtureArtifact(root);
  images = join(root, 'images');
  // 10 images in two folders (listing is recursive), and one that is not an image.
  for (let i = 0; i < 10; i++) {
    const shape = FIXTURE_LABELS[i % FIXTURE_LABELS.length] as (typeof FIXTURE_LABELS)[number];
    const dir = join(images, i < 5 ? 'a' : 'b');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    await writeFile(join(dir, `${i}.png`), shapePng(shape, 20 + i));
  }
  await writeFile(join(images, 'a', 'broken.png'), 'not a png at all');
  await writeFile(join(images, 'notes.txt'), 'ignored');
  let lock = addCandidate(emptyLock(), {
    model: fixture.pin.name,
    entry: makeEntry(fixture.pin.digests, { artifactUri: 'artifact' }),
  }).lock;
  lock = pinVersion(lock, {
    model: fixture.pin.name,
    env: 'dev',
    version: fixture.pin.version,
    at: '2026-01-01T00:00:00.000Z',
  });
  lockPath = join(root, 'models.lock.json');
  await writeLock(lockPath, lock);
  // The repository's environments beside the lock: what --env is checked against.
  for (const env of ['dev', 'prod']) await mkdir(join(root, 'environments', env), { recursive: true });
}, 60_000);
afterAll(() => rm(root, { recursive: true, force: true }));

async function recordsIn(dir: string) {
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.jsonl')).sort();
  const records = [];
  for (const f of files) records.push(...parseCaptureLines(await readFile(join(dir, f), 'utf8'), f));
  return { files, records };
}

describe('npm run score into a folder', () => {
  test('interrupted after one batch, then resumed: the finished batch is skipped and counted', async () => {
    const out = join(root, 'out-resume');
    const controller = new AbortController();
    const first = await scoreImages(
      {
        pin: fixture.pin,
        input: parseLocation(images, root),
        out: parseLocation(out, root),
        batchSize: 4,
        signal: controller.signal,
      },
      // Ctrl-C while the first batch runs: it is finished and written, nothing after it.
      { progress: { start: () => {}, batch: () => controller.abort(), stop: () => {} } },
    );
    expect(first).toMatchObject({
      inputImages: 11,
      batches: 3,
      writtenBatches: 1,
      skippedBatches: 0,
      interrupted: true,
    });
    expect((await recordsIn(out)).records).toHaveLength(4);

    const printed: string[] = [];
    const code = await scoreMain(
      [
        '--lock',
        lockPath,
        '--version',
        fixture.pin.version,
        '--input',
        images,
        '--out',
        out,
        '--batch-size',
        '4',
        '--no-progress',
      ],
      { cwd: root, env: {}, print: (t) => printed.push(t) },
    );
    expect(code).toBe(0);
    const text = printed.join('');
    expect(text).toMatch(/skipped\s+1 batches \(4 images\) already written/);
    expect(text).toMatch(/written\s+2 batches \(7 images, 1 error records\)/);
    const { files, records } = await recordsIn(out);
    expect(files).toHaveLength(3);
    expect(files[0]).toMatch(
      new RegExp(
        `^capture/v1/model=${fixture.pin.name}/version=${fixture.pin.version}/date=\\d{4}-\\d{2}-\\d{2}/score-[0-9a-f]{20}\\.jsonl$`,
      ),
    );
    // Every image once, in the capture format, with the model's labels.
    expect(records.map((r) => r.source?.slice(images.length + 1)).sort()).toEqual([
      'a/0.png',
      'a/1.png',
      'a/2.png',
      'a/3.png',
      'a/4.png',
      'a/broken.png',
      'b/5.png',
      'b/6.png',
      'b/7.png',
      'b/8.png',
      'b/9.png',
    ]);
    const good = records.filter((r) => !r.error);
    expect(good).toHaveLength(10);
    for (const r of good) {
      expect(r).toMatchObject({
        schema: 'capture/v1',
        model: fixture.pin.name,
        version: fixture.pin.version,
      });
      expect(r.images).toEqual([expect.objectContaining({ content_type: 'image/png', stored: false })]);
      expect(r.predictions[0]).toHaveLength(3);
      expect(FIXTURE_LABELS).toContain(r.predictions[0]?.[0]?.label);
    }
    const bad = records.find((r) => r.error);
    expect(bad).toMatchObject({ source: join(images, 'a', 'broken.png'), predictions: [] });
    expect(bad?.error).toMatch(/broken\.png/);

    // A third run has nothing left to do.
    printed.length = 0;
    expect(
      await scoreMain(
        [
          '--lock',
          lockPath,
          '--env',
          'dev',
          '--input',
          images,
          '--out',
          out,
          '--batch-size',
          '4',
          '--no-progress',
        ],
        {
          cwd: root,
          env: {},
          print: (t) => printed.push(t),
        },
      ),
    ).toBe(0);
    expect(printed.join('')).toMatch(/skipped\s+3 batches \(11 images\) already written/);
  }, 120_000);

  test('two shards of the same input write disjoint batches that together are the whole', async () => {
    const out = join(root, 'out-shards');
    const args = [
      '--lock',
      lockPath,
      '--env',
      'dev',
      '--input',
      images,
      '--out',
      out,
      '--batch-size',
      '3',
      '--no-progress',
      '--shards',
      '2',
    ];
    const print = () => {};
    expect(await scoreMain([...args, '--shard-index', '0'], { cwd: root, env: {}, print })).toBe(0);
    const half = (await recordsIn(out)).records.length;
    expect(await scoreMain(args, { cwd: root, env: { JOB_COMPLETION_INDEX: '1' }, print })).toBe(0);
    const all = (await recordsIn(out)).records;
    expect(half).toBeGreaterThan(0);
    expect(half).toBeLessThan(11);
    expect(new Set(all.map((r) => r.source)).size).toBe(11);
    expect(all).toHaveLength(11);
  }, 120_000);

  test('a version the lock does not have, and a changed artifact file, stop the run naming them', async () => {
    const base = ['--lock', lockPath, '--input', images, '--out', join(root, 'out-x'), '--no-progress'];
    await expect(
      scoreMain([...base, '--version', 'v000000000000'], { cwd: root, env: {}, print: () => {} }),
    ).rejects.toThrow(`model "${fixture.pin.name}" has no version "v000000000000"`);
    await expect(
      scoreMain([...base, '--env', 'prod'], { cwd: root, env: {}, print: () => {} }),
    ).rejects.toThrow(/has no pin for environment "prod"/);
    await expect(
      scoreMain([...base, '--env', 'dve'], { cwd: root, env: {}, print: () => {} }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(
        /^--env "dve" is not one of dev, prod \(the folders of environments\/\) \(did you mean "dev"\?\)\n/,
      ),
    });
    await expect(scoreMain(base, { cwd: root, env: {}, print: () => {} })).rejects.toMatchObject({
      code: 'USAGE',
    });
    const labels = join(fixture.dir, 'labels.json');
    const saved = await readFile(labels);
    await writeFile(labels, '["a","b","c","d"]');
    try {
      await expect(
        scoreMain([...base, '--env', 'dev'], { cwd: root, env: {}, print: () => {} }),
      ).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
        message: expect.stringContaining('labels.json'),
      });
    } finally {
      await writeFile(labels, saved);
    }
    // Nothing was written for the refused runs.
    await expect(readdir(join(root, 'out-x'))).rejects.toThrow(/ENOENT/);
  }, 120_000);
});
