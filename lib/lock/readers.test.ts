/**
 * One schema for every reader of models.lock.json. Before, four copies
 * disagreed (pins required or not, version id patterns, empty digests): a
 * lock that promote refused could still be served or rendered. Each broken
 * lock below must be refused by every reader, with the same message.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../serving/config.ts';
import { readPinnedVersion } from '../rollout/pin.ts';
import { emptyLock, readLock, serializeLock } from './index.ts';
import { addCandidate, pinVersion } from './mutate.ts';
import { fakeFiles, makeEntry } from './testing.ts';

let dir: string;
let good: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lock-readers-'));
  let lock = addCandidate(emptyLock(), { model: 'demo', entry: makeEntry(fakeFiles(1)) }).lock;
  lock = pinVersion(lock, { model: 'demo', env: 'dev', version: '1', at: '2026-01-01T00:00:00.000Z' });
  good = serializeLock(lock);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const BROKEN: [what: string, edit: (lock: Record<string, unknown>) => void, message: RegExp][] = [
  [
    'no promotions history',
    (l) => {
      delete (l.models as Record<string, Record<string, unknown>>).demo!.promotions;
    },
    /missing required field "promotions"/,
  ],
  [
    'a version id with a leading zero',
    (l) => {
      const m = (l.models as Record<string, Record<string, Record<string, unknown>>>).demo!;
      m.versions!['01'] = m.versions!['1'];
    },
    /key "01" must match pattern/,
  ],
  [
    'empty digests',
    (l) => {
      const v = (l.models as Record<string, Record<string, Record<string, Record<string, unknown>>>>).demo!
        .versions!['1']!;
      v.digests = {};
    },
    /digests: must NOT have fewer than 1 properties/,
  ],
  [
    'a root digest that does not add up',
    (l) => {
      const v = (l.models as Record<string, Record<string, Record<string, Record<string, unknown>>>>).demo!
        .versions!['1']!;
      v.rootDigest = 'f'.repeat(64);
    },
    /rootDigest: is f{64} but the digests add up to/,
  ],
  [
    'credentials in the artifact URI (a lock is committed and printed: a secret there is leaked)',
    (l) => {
      const v = (l.models as Record<string, Record<string, Record<string, Record<string, unknown>>>>).demo!
        .versions!['1']!;
      v.artifactUri = 'https://alice:pa55word@models.example.com/demo/1/';
    },
    /versions\/1\/artifactUri: carries credentials \(user:password@ or a secret query parameter\)/,
  ],
  [
    'credentials in the tracking URI',
    (l) => {
      const v = (l.models as Record<string, Record<string, Record<string, Record<string, unknown>>>>).demo!
        .versions!['1']!;
      v.mlflow = {
        runId: 'abc',
        modelVersion: null,
        trackingUri: 'https://alice:pa55word@mlflow.example.com',
      };
    },
    /versions\/1\/mlflow\/trackingUri: carries credentials/,
  ],
  [
    'a pin to a version that does not exist',
    (l) => {
      (l.models as Record<string, Record<string, Record<string, string>>>).demo!.pins!.dev = '7';
    },
    /pins version "7", which does not exist/,
  ],
];

describe('every reader of models.lock.json refuses the same broken locks', () => {
  it.each(BROKEN)('%s', async (_what, edit, message) => {
    const lock = JSON.parse(good) as Record<string, unknown>;
    edit(lock);
    const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
    await writeFile(path, JSON.stringify(lock));
    await expect(readLock(path)).rejects.toThrow(message);
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(message);
    await expect(loadConfig({ SERVING_LOCK_FILE: path, SERVING_ENVIRONMENT: 'dev' })).rejects.toThrow(
      message,
    );
  });

  it('and all read the good one alike', async () => {
    const path = join(dir, 'good.json');
    await writeFile(path, good);
    await expect(readPinnedVersion(path, 'dev')).resolves.toEqual({ model: 'demo', version: '1' });
    const config = await loadConfig({ SERVING_LOCK_FILE: path, SERVING_ENVIRONMENT: 'dev' });
    expect(config.model).toMatchObject({ name: 'demo', version: '1', uri: join(dir, 'artifacts/x') });
  });
});
