import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { exitCodeOf } from '../platform/errors.ts';
import { tempDir } from '../testing/lock/fixtures.ts';
import { generateDemoDataset } from '../training/data/index.ts';
import { main } from './data.ts';

let dir: string;
let server: Server;
let archive = new Uint8Array();
let url = '';
beforeAll(async () => {
  dir = await tempDir('data-script-');
  await generateDemoDataset(join(dir, 'shapes'), { seed: 2, perClass: 2, size: 8 });
  server = createServer((_req, res) => res.writeHead(200).end(archive));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/shapes.tar.gz`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

it('pack writes the archive and the pointer; fetch brings the same data back', async () => {
  const out: string[] = [];
  const print = (t: string) => void out.push(t);
  expect(
    await main(['pack', 'shapes', '--uri', url, '--archive', 'shapes.tar.gz', '--name', 'shapes'], {
      cwd: dir,
      print,
    }),
  ).toBe(0);
  const pointer = JSON.parse(await readFile(join(dir, 'data', 'shapes.json'), 'utf8'));
  expect(out.join('')).toContain(`dataset shapes: digest ${pointer.digest}`);
  archive = await readFile(join(dir, 'shapes.tar.gz'));
  out.length = 0;
  expect(await main(['fetch', 'data/shapes.json', '--into', 'fetched'], { cwd: dir, print })).toBe(0);
  expect(out.join('')).toBe(`fetched: 8 images, 4 classes, digest ${pointer.digest}\n`);
});

it('bad usage is exit 2 naming what is missing', async () => {
  for (const argv of [['pack', 'shapes'], ['fetch', 'data/x.json'], ['push', 'x'], ['pack']]) {
    const err = await main(argv, { cwd: dir, print: () => {} }).catch((e: unknown) => e);
    expect(exitCodeOf(err)).toBe(2);
  }
  await expect(main(['fecth', 'data/x.json'], { cwd: dir, print: () => {} })).rejects.toMatchObject({
    code: 'USAGE',
    message: expect.stringMatching(
      /^unknown command "fecth" \(pack, fetch or from-feedback\) \(did you mean "fetch"\?\)\n/,
    ),
  });
});
