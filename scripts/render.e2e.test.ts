// scripts/render.ts end to end: flags → render with real Kustomize → table and --out files.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { findKustomize, writePin } from '../lib/gitops/index.ts';
import { fakeEntry, fakeLock, MODEL, tempRepo } from '../lib/gitops/testing/repo.ts';
import { inCI } from '../lib/testing/services.ts';
import { main } from './render.ts';

let haveKustomize = false;
let root = '';

beforeAll(async () => {
  try {
    await findKustomize();
    haveKustomize = true;
  } catch (e) {
    if (inCI()) throw e;
    console.warn(`skipping: ${(e as Error).message}`);
  }
  root = await tempRepo();
  for (const [env, version] of Object.entries(fakeLock().models[MODEL]!.pins!)) {
    await writePin(join(root, 'environments', env), { model: MODEL, version, entry: fakeEntry(version) });
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

test('renders the chosen environment, prints the table and writes --out', async () => {
  if (!haveKustomize) return;
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  const log = jest.spyOn(console, 'log').mockImplementation((...a) => void lines.push(a.join(' ')));
  try {
    const out = join(root, 'out');
    expect(await main(['--root', root, '--env', 'prod', '--out', out])).toBe(0);
    const text = lines.join('');
    expect(text).toMatch(/^environments\/prod +ml-prod +10 +3 \(hpa 3-10\) +demo-classifier@1 /m);
    expect(text).not.toContain('environments/dev');
    expect(text).toContain(`wrote 4 file(s) to ${out}`);
    expect((await readdir(join(out, 'environments'))).sort()).toEqual(['prod.yaml']);
    expect(await readFile(join(out, 'environments', 'prod.yaml'), 'utf8')).toContain(
      'ml.gitops/model-version: "1"',
    );
  } finally {
    spy.mockRestore();
    log.mockRestore();
  }
});

test('an unknown flag is a usage error; an unknown environment names the known ones', async () => {
  await expect(main(['--nope'])).rejects.toMatchObject({ code: 'USAGE' });
  if (!haveKustomize) return;
  await expect(main(['--root', root, '--env', 'qa'])).rejects.toThrow(
    'no environment qa (environments: dev, prod, staging)',
  );
});
