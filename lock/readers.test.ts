/**
 * One schema for every reader of models.lock.json. Before, four copies
 * disagreed (pins required or not, version id patterns, empty digests): a
 * lock that promote refused could still be served or rendered. Each broken
 * lock below must be refused by every reader, with the same message.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pinFromLock } from '../scripts/serve.ts';
import { loadConfig } from '../serving/config.ts';
import { fakeFiles, fakeVersion, makeEntry, writeFileDeep } from '../testing/lock/fixtures.ts';
import { emptyLock, lockFiles, readLock, readPinnedVersion } from './index.ts';
import { addCandidate, pinVersion } from './mutate.ts';

const V1 = fakeVersion(1);
const VERSION = `models.lock.d/demo/${V1}.json`;
let dir: string;
let good: Record<string, string>;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lock-readers-'));
  let lock = addCandidate(emptyLock(), { model: 'demo', entry: makeEntry(fakeFiles(1)) }).lock;
  lock = pinVersion(lock, { model: 'demo', env: 'dev', version: V1, at: '2026-01-01T00:00:00.000Z' });
  good = lockFiles(lock, 'models.lock.json');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// biome-ignore lint/suspicious/noExplicitAny: edits of parsed fixtures
type Json = Record<string, any>;
/** Edit the parsed JSON of one file of the good lock. */
const editJson = (files: Record<string, string>, file: string, fn: (j: Json) => void) => {
  const j = JSON.parse(files[file] as string) as Json;
  fn(j);
  files[file] = JSON.stringify(j);
};

const BROKEN: [what: string, edit: (files: Record<string, string>) => void, message: RegExp][] = [
  [
    'no promotions history',
    (f) => editJson(f, 'models.lock.json', (l) => delete l.models.demo.promotions),
    /missing required field "promotions"/,
  ],
  [
    'a version file whose name is not a version id',
    (f) => {
      f['models.lock.d/demo/01.json'] = f[VERSION] as string;
    },
    /models\.lock\.d\/demo\/01\.json: not a version file/,
  ],
  [
    'empty digests',
    (f) => editJson(f, VERSION, (v) => (v.digests = {})),
    /digests: must NOT have fewer than 1 properties/,
  ],
  [
    'a root digest that does not add up',
    (f) => editJson(f, VERSION, (v) => (v.rootDigest = `${V1.slice(1)}${'f'.repeat(52)}`)),
    /rootDigest: is [0-9a-f]{12}f{52} but the digests add up to/,
  ],
  [
    'credentials in the artifact URI (a lock is committed and printed: a secret there is leaked)',
    (f) => editJson(f, VERSION, (v) => (v.artifactUri = 'https://alice:pa55word@models.example.com/demo/1/')),
    new RegExp(
      `versions/${V1}/artifactUri: carries credentials \\(user:password@ or a secret query parameter\\)`,
    ),
  ],
  [
    'credentials in the tracking URI',
    (f) =>
      editJson(f, VERSION, (v) => {
        v.mlflow = {
          runId: 'abc',
          modelVersion: null,
          trackingUri: 'https://alice:pa55word@mlflow.example.com',
        };
      }),
    new RegExp(`versions/${V1}/mlflow/trackingUri: carries credentials`),
  ],
  [
    'a pin to a version that does not exist',
    (f) => editJson(f, 'models.lock.json', (l) => (l.models.demo.pins.dev = 'vaaaaaaaaaaaa')),
    /pins version "vaaaaaaaaaaaa", which does not exist/,
  ],
];

async function writeLockFiles(files: Record<string, string>): Promise<string> {
  const root = join(dir, Math.random().toString(36).slice(2));
  for (const [rel, text] of Object.entries(files)) await writeFileDeep(join(root, rel), text);
  return join(root, 'models.lock.json');
}

describe('every reader of models.lock.json refuses the same broken locks', () => {
  it.each(BROKEN)('%s', async (_what, edit, message) => {
    const files = { ...good };
    edit(files);
    const path = await writeLockFiles(files);
    await expect(readLock(path)).rejects.toThrow(message);
    await expect(readPinnedVersion(path, 'dev')).rejects.toThrow(message);
    await expect(
      loadConfig({ SERVING_LOCK_FILE: path, SERVING_ENVIRONMENT: 'dev' }, { pinFromLock }),
    ).rejects.toThrow(message);
  });

  it('and all read the good one alike', async () => {
    const path = await writeLockFiles(good);
    await expect(readPinnedVersion(path, 'dev')).resolves.toEqual({ model: 'demo', version: V1 });
    const config = await loadConfig({ SERVING_LOCK_FILE: path, SERVING_ENVIRONMENT: 'dev' }, { pinFromLock });
    expect(config.model).toMatchObject({ name: 'demo', version: V1, uri: join(path, '..', 'artifacts/x') });
  });
});
