// scripts/render.ts end to end: flags → render with real Kustomize → table and --out files.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { writePin } from '../lib/gitops/index.ts';
import { kustomizeInstalled } from '../lib/gitops/testing/kustomize.ts';
import { fakeEntry, fakeLock, MODEL, tempRepo } from '../lib/gitops/testing/repo.ts';
import { needs } from '../lib/testing/services.ts';
import { main } from './render.ts';

const withKustomize = needs(kustomizeInstalled()).test;
let root = '';

beforeAll(async () => {
  root = await tempRepo();
  for (const [env, version] of Object.entries(fakeLock().models[MODEL]!.pins!)) {
    await writePin(join(root, 'environments', env), { model: MODEL, version, entry: fakeEntry(version) });
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

withKustomize('renders the chosen environment, prints the table and writes --out', async () => {
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

test('an unknown flag is a usage error', async () => {
  await expect(main(['--nope'])).rejects.toMatchObject({ code: 'USAGE' });
});

withKustomize('an unknown environment names the known ones', async () => {
  await expect(main(['--root', root, '--env', 'qa'])).rejects.toThrow(
    'no environment qa (environments: dev, prod, staging)',
  );
});
