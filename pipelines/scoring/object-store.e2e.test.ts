/**
 * Batch scoring on a real S3-compatible store (SeaweedFS, testing/object-store.ts):
 * the model artifact and a folder of generated images in the store, the lock
 * naming the artifact by its s3:// URL; a run interrupted after its first
 * batch, resumed with the skip count printed, the records read back in the
 * capture/v1 format; a store that is not there is named.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { addCandidate, emptyLock, lockedPin, pinVersion, readLock, writeLock } from '../../lock/index.ts';
import { parseCaptureLines } from '../../model/capture.ts';
import { createObjectStore } from '../../platform/object-store/index.ts';
import { main as scoreMain } from '../../scripts/score.ts';
import { makeEntry, tempDir } from '../../testing/lock/fixtures.ts';
import {
  type ObjectStoreServer,
  objectStoreInstalled,
  startObjectStore,
} from '../../testing/object-store.ts';
import { needs } from '../../testing/services.ts';
import {
  FIXTURE_LABELS,
  type FixtureArtifact,
  shapePng,
  writeFixtureArtifact,
} from '../../testing/serving/fixture.ts';
import { parseLocation } from './io.ts';
import { scoreImages } from './score.ts';

const { describe, it } = needs(objectStoreInstalled());
const BUCKET = 'gitops-ml';
const IMAGES = 14;

let dir: string;
let store: ObjectStoreServer;
let fixture: FixtureArtifact;
let lockPath: string;

beforeAll(async () => {
  // Nothing to start: every test below is behind needs(), which fails it under CI=true and skips it
  // visibly elsewhere, naming the set-up step.
  if (!objectStoreInstalled().found) return;
  dir = await tempDir('scoring-e2e-');
  store = await startObjectStore({ buckets: [BUCKET] });
  fixture = await writeFixtureArtifact(dir);
  // The artifact in the store, named by its s3:// URL in the lock (fetched and digest-checked from there).
  for (const f of await readdir(fixture.dir)) {
    await store.client.put({ bucket: BUCKET, key: `models/demo/${f}` }, await readFile(join(fixture.dir, f)));
  }
  for (let i = 0; i < IMAGES; i++) {
    const shape = FIXTURE_LABELS[i % FIXTURE_LABELS.length] as (typeof FIXTURE_LABELS)[number];
    await store.client.put(
      { bucket: BUCKET, key: `inbox/day-1/${String(i).padStart(2, '0')}.png` },
      shapePng(shape, 24 + i),
    );
  }
  await store.client.put({ bucket: BUCKET, key: 'inbox/day-1/corrupt.jpg' }, 'no jpeg here');
  let lock = addCandidate(emptyLock(), {
    model: fixture.pin.name,
    entry: makeEntry(fixture.pin.digests, { artifactUri: `s3://${BUCKET}/models/demo` }),
  }).lock;
  lock = pinVersion(lock, {
    model: fixture.pin.name,
    env: 'prod',
    version: fixture.pin.version,
    at: '2026-01-01T00:00:00.000Z',
  });
  lockPath = join(dir, 'models.lock.json');
  await writeLock(lockPath, lock);
  // The repository's environments beside the lock: what --env is checked against.
  await mkdir(join(dir, 'environments', 'prod'), { recursive: true });
}, 180_000);

afterAll(async () => {
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function outputRecords() {
  const keys: string[] = [];
  for await (const o of store.client.list({ bucket: BUCKET, key: 'scored/run-1/' })) keys.push(o.key);
  const records = [];
  for (const k of keys) {
    records.push(
      ...parseCaptureLines(
        Buffer.from(await store.client.getBytes({ bucket: BUCKET, key: k })).toString('utf8'),
        k,
      ),
    );
  }
  return { keys, records };
}

describe('npm run score from s3:// to s3://', () => {
  it('is interrupted after one batch, resumes skipping it, and the records read back as capture/v1', async () => {
    const controller = new AbortController();
    const client = createObjectStore(store.config);
    try {
      const first = await scoreImages(
        {
          pin: lockedPin(await readLock(lockPath), fixture.pin.name, { env: 'prod' }, lockPath),
          input: parseLocation(`s3://${BUCKET}/inbox/`, dir),
          out: parseLocation(`s3://${BUCKET}/scored/run-1`, dir),
          batchSize: 4,
          signal: controller.signal,
          fetch: { objectStore: store.config },
        },
        { store: client, progress: { start: () => {}, batch: () => controller.abort(), stop: () => {} } },
      );
      expect(first).toMatchObject({
        inputImages: IMAGES + 1,
        batches: 4,
        writtenBatches: 1,
        interrupted: true,
      });
    } finally {
      client.close();
    }
    expect((await outputRecords()).keys).toHaveLength(1);

    const printed: string[] = [];
    const args = [
      '--lock',
      lockPath,
      '--env',
      'prod',
      '--input',
      `s3://${BUCKET}/inbox`,
      '--out',
      `s3://${BUCKET}/scored/run-1/`,
      '--batch-size',
      '4',
      '--no-progress',
    ];
    expect(await scoreMain(args, { cwd: dir, env: store.env, print: (t) => printed.push(t) })).toBe(0);
    expect(printed.join('')).toMatch(/skipped\s+1 batches \(4 images\) already written/);
    expect(printed.join('')).toMatch(/written\s+3 batches \(11 images, 1 error records\)/);

    const { keys, records } = await outputRecords();
    expect(keys).toHaveLength(4);
    for (const k of keys) {
      expect(k).toMatch(
        new RegExp(
          `^scored/run-1/capture/v1/model=${fixture.pin.name}/version=${fixture.pin.version}/date=\\d{4}-\\d{2}-\\d{2}/score-[0-9a-f]{20}\\.jsonl$`,
        ),
      );
    }
    expect(records).toHaveLength(IMAGES + 1);
    expect(new Set(records.map((r) => r.source)).size).toBe(IMAGES + 1);
    expect(records.every((r) => r.source?.startsWith(`s3://${BUCKET}/inbox/day-1/`))).toBe(true);
    const bad = records.filter((r) => r.error);
    expect(bad).toEqual([
      expect.objectContaining({ source: `s3://${BUCKET}/inbox/day-1/corrupt.jpg`, predictions: [] }),
    ]);
    for (const r of records.filter((x) => !x.error)) {
      expect(
        r.predictions[0]?.map((p) => p.label).every((l) => (FIXTURE_LABELS as readonly string[]).includes(l)),
      ).toBe(true);
    }

    // Run again: everything is skipped, nothing is written twice.
    printed.length = 0;
    expect(await scoreMain(args, { cwd: dir, env: store.env, print: (t) => printed.push(t) })).toBe(0);
    expect(printed.join('')).toMatch(/skipped\s+4 batches \(15 images\) already written/);
    expect((await outputRecords()).keys).toHaveLength(4);
  }, 180_000);

  it('names a store that does not answer', async () => {
    const env = { ...store.env, OBJECT_STORE_ENDPOINT: 'http://127.0.0.1:9' };
    const args = [
      '--lock',
      lockPath,
      '--env',
      'prod',
      '--input',
      `s3://${BUCKET}/inbox`,
      '--out',
      `s3://${BUCKET}/x`,
      '--no-progress',
    ];
    await expect(scoreMain(args, { cwd: dir, env, print: () => {} })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('127.0.0.1:9'),
    });
  }, 120_000);
});
