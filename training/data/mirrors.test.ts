/**
 * Data mirrors (training/data/mirrors.ts) and the download through them
 * (training/data/download.ts): the user's rules from the environment and the
 * config file, and real downloads from a local folder, a local file named by
 * its digest, a loopback HTTP mirror and an `s3://` mirror read with the
 * object store's client (platform/object-store, the AWS SDK, path-style
 * against the loopback server), with the canonical URL last and the same
 * checksum check whichever place served the bytes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProjectError } from '../../platform/index.ts';
import { createObjectStore, type ObjectStore } from '../../platform/object-store/index.ts';
import { tempDir } from '../../testing/lock/fixtures.ts';
import { downloadVerified } from './download.ts';
import {
  configuredMirror,
  type DataMirrors,
  loadDataMirrors,
  MIRRORS_ENV,
  type MirrorCandidate,
  mirrorCandidates,
  parseMirrorRules,
} from './mirrors.ts';

const BYTES = new TextEncoder().encode('the archive bytes\n'.repeat(100));
const SHA = createHash('sha256').update(BYTES).digest('hex');
const CANONICAL = 'https://data.example.invalid/datasets/set-1.tar.gz';

let dir: string;
let server: Server;
let base = '';
const served = new Map<string, Uint8Array>();
const requests: string[] = [];

beforeAll(async () => {
  dir = await tempDir('data-mirrors-');
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    // The object store's GetObject, path-style: /<bucket>/<key>?x-id=GetObject.
    const s3 = (req.url ?? '').endsWith('?x-id=GetObject');
    const body = served.get(s3 ? (req.url ?? '').split('?')[0]! : (req.url ?? ''));
    if (!body && s3) {
      const xml = '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>';
      return void res.writeHead(404, { 'content-type': 'application/xml' }).end(xml);
    }
    if (!body) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

/** A fetch that refuses the canonical host, as an offline machine does; the loopback server answers. */
const offlineFetch: typeof fetch = async (input, init) => {
  const url = String(input);
  if (url.startsWith('https://data.example.invalid/'))
    throw new TypeError('fetch failed (getaddrinfo ENOTFOUND)');
  return fetch(input, init);
};

const mirrors = (rules: string): DataMirrors => ({ rules: parseMirrorRules(rules), sources: [MIRRORS_ENV] });
const place = (c: MirrorCandidate): string => (c.kind === 'file' ? c.path : c.kind === 's3' ? c.uri : c.url);

describe('mirror rules', () => {
  it('reads the env rules first, then the config file under XDG_CONFIG_HOME; no file is no rules', async () => {
    const home = join(dir, 'home');
    const xdg = join(dir, 'xdg');
    expect(loadDataMirrors({}, home)).toEqual({ rules: [], sources: [] });
    await mkdir(join(xdg, 'gitops-ml'), { recursive: true });
    const file = join(xdg, 'gitops-ml', 'data-mirrors.json');
    await writeFile(
      file,
      JSON.stringify({
        mirrors: [{ match: `sha256:${SHA}`, target: '/srv/copy.tar.gz', description: 'a copy' }],
      }),
    );
    const m = loadDataMirrors(
      {
        XDG_CONFIG_HOME: xdg,
        [MIRRORS_ENV]: 'https://data.example.invalid/=/srv/mirror/ ; http://a/=http://b/',
      },
      home,
    );
    expect(m.sources).toEqual([MIRRORS_ENV, file]);
    expect(m.rules.map((r) => [r.match, r.target, r.from])).toEqual([
      ['https://data.example.invalid/', '/srv/mirror/', MIRRORS_ENV],
      ['http://a/', 'http://b/', MIRRORS_ENV],
      [`sha256:${SHA}`, '/srv/copy.tar.gz', file],
    ]);
  });

  it('refuses a rule it cannot read, and a config file that is not valid, naming it', async () => {
    expect(() => parseMirrorRules('data.example.invalid=/srv')).toThrow(
      `${MIRRORS_ENV}: cannot read mirror rule "data.example.invalid=/srv"`,
    );
    expect(() => parseMirrorRules('https://a/=relative/path')).toThrow(
      'target "relative/path" is neither an http(s) or s3:// URL nor an absolute path',
    );
    const withKey = (() => {
      try {
        parseMirrorRules('https://a/=s3://AKID:wJalrXUtnFEMI@copies/');
      } catch (e) {
        return e as ProjectError;
      }
    })();
    expect(withKey?.message.split('\n')[0]).toBe(
      `${MIRRORS_ENV}: s3://***@copies/: an s3:// URL carries no credentials`,
    );
    expect(withKey?.message).not.toContain('wJalrXUtnFEMI');
    const file = join(dir, 'bad-mirrors.json');
    await writeFile(file, JSON.stringify({ mirrors: [{ match: 'sha256:xyz', target: '/x' }] }));
    const err = (() => {
      try {
        loadDataMirrors({ GITOPS_ML_DATA_MIRRORS_FILE: file });
      } catch (e) {
        return e as ProjectError;
      }
    })();
    expect(err).toBeInstanceOf(ProjectError);
    expect(err?.message).toContain(`${file} is invalid`);
    expect(err?.message).toContain('/mirrors/0/match');
    expect(() => loadDataMirrors({ GITOPS_ML_DATA_MIRRORS_FILE: join(dir, 'none.json') })).toThrow(
      'cannot read the data mirrors file (ENOENT)',
    );
  });

  it('tries every matching rule in order, then the canonical URL; a digest rule matches only its digest', () => {
    const m = mirrors(
      `https://data.example.invalid/datasets/=/srv/mirror/ sha256:${SHA}=/copies/ md5:${'0'.repeat(32)}=/other.tar.gz https://elsewhere/=/x/`,
    );
    expect(mirrorCandidates(CANONICAL, `sha256:${SHA}`, m).map(place)).toEqual([
      '/srv/mirror/set-1.tar.gz',
      '/copies/set-1.tar.gz',
      CANONICAL,
    ]);
    expect(mirrorCandidates(CANONICAL, `sha256:${'1'.repeat(64)}`, m)).toHaveLength(2);
  });

  it('an s3:// URL is mirrored and mirrors like any other: its key taken byte for byte, the store last', () => {
    const m = mirrors(
      `s3://datasets/=/srv/store-copy/ https://data.example.invalid/=s3://copies/in-store/ sha256:${SHA}=s3://copies/by-digest/`,
    );
    const inStore = 's3://datasets/v1/set%201.tar.gz';
    expect(mirrorCandidates(inStore, `sha256:${SHA}`, m)).toEqual([
      { kind: 'file', path: '/srv/store-copy/v1/set%201.tar.gz', rule: m.rules[0] },
      { kind: 's3', uri: 's3://copies/by-digest/set%201.tar.gz', rule: m.rules[2] },
      { kind: 's3', uri: inStore },
    ]);
    expect(mirrorCandidates(CANONICAL, undefined, m).map(place)).toEqual([
      's3://copies/in-store/datasets/set-1.tar.gz',
      CANONICAL,
    ]);
    expect(configuredMirror(CANONICAL, undefined, m)).toBe('s3://copies/in-store/datasets/set-1.tar.gz');
  });
});

describe('downloads through mirrors', () => {
  it('a local folder mirroring the URL prefix serves the file; the canonical URL is not asked', async () => {
    const folder = join(dir, 'mirror-folder');
    await mkdir(join(folder, 'datasets'), { recursive: true });
    await writeFile(join(folder, 'datasets', 'set-1.tar.gz'), BYTES);
    const dest = join(dir, 'out', 'a.tar.gz');
    const n = await downloadVerified(CANONICAL, dest, {
      checksum: `sha256:${SHA}`,
      fetch: offlineFetch,
      mirrors: mirrors(`https://data.example.invalid/=file://${folder}/`),
    });
    expect(n).toBe(BYTES.length);
    expect(await readFile(dest)).toEqual(Buffer.from(BYTES));
  });

  it('a local file named by the archive digest serves it', async () => {
    const copy = join(dir, 'copy.tar.gz');
    await writeFile(copy, BYTES);
    const m = mirrors(`sha256:${SHA}=${copy}`);
    expect(configuredMirror(CANONICAL, `sha256:${SHA}`, m)).toBe(copy);
    expect(configuredMirror(CANONICAL, `sha256:${'2'.repeat(64)}`, m)).toBeUndefined();
    const dest = join(dir, 'out', 'b.tar.gz');
    await downloadVerified(CANONICAL, dest, { checksum: SHA, fetch: offlineFetch, mirrors: m });
    expect(await readFile(dest)).toEqual(Buffer.from(BYTES));
  });

  it('an HTTP mirror serves it; a mirror that lacks the file is skipped for the next place', async () => {
    served.set('/mirror/datasets/set-1.tar.gz', BYTES);
    requests.length = 0;
    const dest = join(dir, 'out', 'c.tar.gz');
    await downloadVerified(CANONICAL, dest, {
      checksum: `sha256:${SHA}`,
      fetch: offlineFetch,
      mirrors: mirrors(
        `https://data.example.invalid/=${base}/empty/ https://data.example.invalid/=${base}/mirror/`,
      ),
    });
    expect(requests).toEqual(['/empty/datasets/set-1.tar.gz', '/mirror/datasets/set-1.tar.gz']);
    expect(await readFile(dest)).toEqual(Buffer.from(BYTES));
  });

  it('no place has it: UNAVAILABLE naming every place tried and where to configure a mirror', async () => {
    const dest = join(dir, 'out', 'd.tar.gz');
    const err = (await downloadVerified(CANONICAL, dest, {
      checksum: `sha256:${SHA}`,
      fetch: offlineFetch,
      mirrors: mirrors(`https://data.example.invalid/=${join(dir, 'nothing')}/`),
    }).catch((e: unknown) => e)) as ProjectError;
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`${CANONICAL}: no place had it:`);
    expect(err.message).toContain(`${join(dir, 'nothing', 'datasets', 'set-1.tar.gz')}: ENOENT`);
    expect(err.message).toContain(`${CANONICAL}: download failed (fetch failed (getaddrinfo ENOTFOUND))`);
    expect(err.message).toContain('docs/data.md#mirrors-and-local-copies');
    const alone = (await downloadVerified(CANONICAL, dest, {
      checksum: `sha256:${SHA}`,
      fetch: offlineFetch,
      mirrors: false,
    }).catch((e: unknown) => e)) as ProjectError;
    expect(alone.message).toContain(`configure a mirror or local copy of it`);
    expect(alone.message).toContain(`${MIRRORS_ENV}="${CANONICAL}=/path/to/set-1.tar.gz"`);
    expect(await readdir(join(dir, 'out'))).not.toContain('d.tar.gz');
  });

  it('an s3:// mirror in the object store serves it (one without the object skipped); an s3:// archive needs no store when a local copy has it', async () => {
    const store: ObjectStore = createObjectStore({
      endpoint: base,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'mirror-secret-key-1234' },
      forcePathStyle: true,
    });
    served.set('/copies/in-store/datasets/set-1.tar.gz', BYTES);
    requests.length = 0;
    const dest = join(dir, 'out-s3', 'f.tar.gz');
    try {
      await downloadVerified(CANONICAL, dest, {
        checksum: `sha256:${SHA}`,
        fetch: offlineFetch,
        objectStore: store,
        mirrors: mirrors(
          'https://data.example.invalid/=s3://copies/empty/ https://data.example.invalid/=s3://copies/in-store/',
        ),
      });
    } finally {
      store.close();
    }
    expect(requests).toEqual([
      '/copies/empty/datasets/set-1.tar.gz?x-id=GetObject',
      '/copies/in-store/datasets/set-1.tar.gz?x-id=GetObject',
    ]);
    expect(await readFile(dest)).toEqual(Buffer.from(BYTES));

    // A pointer whose archive is in the store, on a machine with a copy on disk and no store configured.
    const copy = join(dir, 'store-copy.tar.gz');
    await writeFile(copy, BYTES);
    const fromCopy = join(dir, 'out-s3', 'g.tar.gz');
    await downloadVerified('s3://datasets/set-1.tar.gz', fromCopy, {
      checksum: `sha256:${SHA}`,
      mirrors: mirrors(`sha256:${SHA}=${copy}`),
    });
    expect(await readFile(fromCopy)).toEqual(Buffer.from(BYTES));
  });

  it('an s3:// mirror without a configured store is a place that failed, named with what to set', async () => {
    const err = (await downloadVerified(CANONICAL, join(dir, 'out-s3', 'h.tar.gz'), {
      checksum: `sha256:${SHA}`,
      fetch: offlineFetch,
      mirrors: mirrors('https://data.example.invalid/=s3://copies/in-store/'),
    }).catch((e: unknown) => e)) as ProjectError;
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`${CANONICAL}: no place had it:`);
    expect(err.message).toContain(
      '  - s3://copies/in-store/datasets/set-1.tar.gz is in the object store, and none is configured → set OBJECT_STORE_ENDPOINT',
    );
    expect(err.message).toContain(`  - ${CANONICAL}: download failed (fetch failed (getaddrinfo ENOTFOUND))`);
  });

  it('a mirror serving other bytes fails the download, naming the mirror; nothing is left behind', async () => {
    const wrong = join(dir, 'wrong.tar.gz');
    await writeFile(wrong, new TextEncoder().encode('other bytes'));
    const dest = join(dir, 'out2', 'e.tar.gz');
    const err = (await downloadVerified(CANONICAL, dest, {
      checksum: `sha256:${SHA}`,
      fetch: offlineFetch,
      mirrors: mirrors(`sha256:${SHA}=${wrong}`),
    }).catch((e: unknown) => e)) as ProjectError;
    expect(err.code).toBe('DIGEST_MISMATCH');
    expect(err.message).toContain(`${wrong} (a mirror of ${CANONICAL}): sha256 is`);
    expect(err.message).toContain('the mirror does not hold the archive the pointer names');
    expect(await readdir(join(dir, 'out2'))).toEqual([]);
  });
});
