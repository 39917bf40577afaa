// scripts/render.ts end to end: flags → render with real Kustomize → table and --out files.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { fakeVersion, tempRepo, writePins } from '../testing/gitops/repo.ts';
import { needs } from '../testing/services.ts';
import { main } from './render.ts';

const withKustomize = needs(kustomizeInstalled()).test;
let root = '';

beforeAll(async () => {
  root = await tempRepo();
  await writePins(root);
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
    const prod = fakeVersion('1');
    expect(text).toMatch(
      new RegExp(`^environments/prod +ml-prod +11 +3 \\(hpa 3-10\\) +demo-classifier@${prod} `, 'm'),
    );
    expect(text).not.toContain('environments/dev');
    // prod, and the six manifests every environment shares (the relay's among them).
    expect(text).toContain(`wrote 7 file(s) to ${out}`);
    expect((await readdir(join(out, 'environments'))).sort()).toEqual(['prod.yaml']);
    expect((await readdir(join(out, 'manifests'))).sort()).toEqual([
      'alert-relay.yaml',
      'argocd.yaml',
      'ci-access.yaml',
      'monitoring.yaml',
      'scoring-job.yaml',
      'training-job.yaml',
    ]);
    expect(await readFile(join(out, 'environments', 'prod.yaml'), 'utf8')).toMatch(
      new RegExp(`ml.gitops/model-version: "?${prod}"?\n`),
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
  await expect(main(['--root', root, '--env', 'qa'])).rejects.toMatchObject({
    code: 'USAGE',
    message: expect.stringMatching(
      /^--env "qa" is not one of dev, staging, prod \(the folders of \S*environments\/\)\n/,
    ),
  });
  await expect(main(['--root', root, '--env', 'stagin'])).rejects.toMatchObject({
    code: 'USAGE',
    message: expect.stringContaining('(did you mean "staging"?)'),
  });
});
