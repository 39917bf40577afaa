/**
 * Data mirrors (training/data/mirrors.ts) and the download through them
 * (training/data/download.ts): the user's rules from the environment and the
 * config file, and real downloads from a local folder, a local file named by
 * its digest, and a loopback HTTP mirror, with the canonical URL last and the
 * same checksum check whichever place served the bytes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProjectError } from '../../lib/index.ts';
import { tempDir } from '../../lib/lock/testing.ts';
import { downloadVerified } from './download.ts';
import {
  configuredMirror,
  type DataMirrors,
  loadDataMirrors,
  MIRRORS_ENV,
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
    const body = served.get(req.url ?? '');
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
      'target "relative/path" is neither an http(s) URL nor an absolute path',
    );
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
    expect(
      mirrorCandidates(CANONICAL, `sha256:${SHA}`, m).map((c) => (c.kind === 'file' ? c.path : c.url)),
    ).toEqual(['/srv/mirror/set-1.tar.gz', '/copies/set-1.tar.gz', CANONICAL]);
    expect(mirrorCandidates(CANONICAL, `sha256:${'1'.repeat(64)}`, m)).toHaveLength(2);
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
