import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { $ } from 'zx';
import { createGitHttpHandler, parseCgiHeaders } from './git-server.ts';

const git = (cwd: string) => $({ cwd, quiet: true, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });

describe('git smart-HTTP server (real git on both ends)', () => {
  let dir: string;
  let origin: string;
  const servers: Server[] = [];
  const lines: string[] = [];

  async function serve(receivePack: boolean): Promise<string> {
    const server = createServer(
      createGitHttpHandler({
        gitDir: join(origin, '.git'),
        name: 'demo',
        receivePack,
        log: (l) => lines.push(l),
      }),
    );
    servers.push(server);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    const addr = server.address();
    return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'git-server-'));
    origin = join(dir, 'origin');
    await $({ quiet: true })`git init -q -b main ${origin}`;
    await writeFile(join(origin, 'a.txt'), 'first\n');
    await git(origin)`git add a.txt`;
    await git(origin)`git -c user.name=t -c user.email=t@example.com commit -q -m first`;
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((ok) => s.close(ok));
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('clones and fetches over smart HTTP (protocol v2), by branch and by commit SHA', async () => {
    const base = await serve(false);
    const clone = join(dir, 'clone');
    await $({ quiet: true })`git -c protocol.version=2 clone -q ${`${base}/demo.git`} ${clone}`;
    expect(await readFile(join(clone, 'a.txt'), 'utf8')).toBe('first\n');
    // A second commit in the served repository shows up on fetch, and can be fetched by its SHA (as Argo CD does).
    await writeFile(join(origin, 'a.txt'), 'second\n');
    await git(origin)`git -c user.name=t -c user.email=t@example.com commit -q -am second`;
    const sha = (await git(origin)`git rev-parse HEAD`).stdout.trim();
    await git(clone)`git fetch -q origin ${sha}`;
    expect((await git(clone)`git rev-parse FETCH_HEAD`).stdout.trim()).toBe(sha);
    expect(lines.some((l) => /^GET \/demo\.git\/info\/refs\?service=git-upload-pack 200$/.test(l))).toBe(
      true,
    );
    expect(lines.some((l) => /^POST \/demo\.git\/git-upload-pack 200$/.test(l))).toBe(true);
  });

  test('refuses pushes unless receivePack is set, then accepts them', async () => {
    const readOnly = await serve(false);
    const work = join(dir, 'work');
    await $({ quiet: true })`git clone -q ${`${readOnly}/demo.git`} ${work}`;
    await git(work)`git switch -q -c topic`;
    await writeFile(join(work, 'b.txt'), 'b\n');
    await git(work)`git add b.txt`;
    await git(work)`git -c user.name=t -c user.email=t@example.com commit -q -m b`;
    const refused = await $({
      cwd: work,
      quiet: true,
      nothrow: true,
    })`git push -q ${`${readOnly}/demo.git`} topic`;
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/403/);

    const writable = await serve(true);
    await git(work)`git push -q ${`${writable}/demo.git`} topic`;
    const pushed = (await git(origin)`git rev-parse topic`).stdout.trim();
    expect(pushed).toBe((await git(work)`git rev-parse HEAD`).stdout.trim());
  });

  test('serves only /<name>.git and the protocol paths; /healthz answers ok', async () => {
    const base = await serve(false);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/other.git/info/refs?service=git-upload-pack`)).status).toBe(404);
    expect((await fetch(`${base}/demo.git/config`)).status).toBe(404);
    expect((await fetch(`${base}/demo.git/../../etc/passwd`)).status).toBe(404);
    const refs = await fetch(`${base}/demo.git/info/refs?service=git-upload-pack`);
    expect(refs.status).toBe(200);
    expect(refs.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
  });

  test('parseCgiHeaders takes the status from Status: and passes the rest', () => {
    expect(parseCgiHeaders('Status: 404 Not Found\r\nContent-Type: text/plain\r\nExpires: x')).toEqual({
      status: 404,
      headers: { 'Content-Type': 'text/plain', Expires: 'x' },
    });
    expect(parseCgiHeaders('Content-Type: a/b').status).toBe(200);
  });
});
