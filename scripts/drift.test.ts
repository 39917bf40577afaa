import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { generateImages, type ImageDistribution } from '../testing/drift/images.ts';
import { replaceArtifactFile, writeDriftFixture } from '../testing/monitoring/drift-fixture.ts';
import { pngOf } from '../testing/monitoring/drift-traffic.ts';
import type { FixtureArtifact } from '../testing/serving/fixture.ts';
import { main } from './drift.ts';

let root: string;
let fixture: FixtureArtifact;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'drift-script-'));
  fixture = await writeDriftFixture(join(root, 'fixture'), 1000);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function folder(
  name: string,
  count: number,
  seed: number,
  dist: ImageDistribution = {},
): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [i, g] of generateImages(count, seed, dist).entries()) {
    await writeFile(join(dir, `${String(i).padStart(4, '0')}.png`), pngOf(g));
  }
  return dir;
}

const run = async (argv: string[]) => {
  const lines: string[] = [];
  const code = await main(argv, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
};

describe('npm run drift', () => {
  test('in-distribution inputs: exit 0, report.json and report.html written', async () => {
    const inputs = await folder('in', 300, 7);
    const out = join(root, 'report-in');
    const { code, out: text } = await run([
      '--artifact',
      fixture.dir,
      '--inputs',
      inputs,
      '--out',
      out,
      '--threshold',
      '0.2',
    ]);
    expect(text).toMatch(/no drift$/);
    expect(code).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report).toMatchObject({
      files: 300,
      samples: 300,
      scored: true,
      drifted: [],
      sha256: fixture.pin.sha256,
    });
    expect(report.features.map((f: { feature: string }) => f.feature)).toEqual([
      'brightness',
      'channel_mean_0',
      'contrast',
    ]);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<p class="verdict">no drift</p>');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  test('brighter inputs: exit 1 naming the drifted features', async () => {
    const inputs = await folder('bright', 300, 11, { brightnessShift: 60 });
    const out = join(root, 'report-bright');
    const { code, out: text } = await run([
      '--artifact',
      fixture.dir,
      '--inputs',
      inputs,
      '--out',
      out,
      '--threshold',
      '0.2',
    ]);
    expect(code).toBe(1);
    expect(text).toMatch(/^drift: brightness, channel_mean_0, contrast/m);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.features[0].psi).toBeGreaterThan(1);
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('DRIFT in brightness');
  });

  test('too few images: no verdict, exit 0', async () => {
    const inputs = await folder('few', 5, 3, { brightnessShift: 100 });
    const { code, out } = await run([
      '--artifact',
      fixture.dir,
      '--inputs',
      inputs,
      '--out',
      join(root, 'r-few'),
    ]);
    expect(code).toBe(0);
    expect(out).toMatch(/not scored: 5 images, fewer than 100; no drift verdict$/);
  });

  test('an empty inputs folder is a usage error naming it', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    await expect(run(['--artifact', fixture.dir, '--inputs', empty])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(`inputs folder ${empty} has no PNG or JPEG image`),
    });
  });

  test('a missing or malformed reference file is an error naming it', async () => {
    // (the message starts with the file's full path: `<artifact>/reference-stats.json is invalid`)
    const inputs = join(root, 'few');
    const missing = await replaceArtifactFile(
      await writeDriftFixture(join(root, 'no-ref'), 20),
      'reference-stats.json',
      undefined,
    );
    await expect(run(['--artifact', missing.dir, '--inputs', inputs])).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(`${join(missing.dir, 'reference-stats.json')} is missing`),
    });
    const bad = await replaceArtifactFile(
      await writeDriftFixture(join(root, 'bad-ref'), 20),
      'reference-stats.json',
      '{"version":2}',
    );
    await expect(run(['--artifact', bad.dir, '--inputs', inputs])).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringMatching(
        /reference-stats\.json is invalid:\n(.*\n)* {2}- \/version: must be equal to constant/,
      ),
    });
  });

  test('bad flags are usage errors', async () => {
    await expect(run(['--inputs', 'x'])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(run(['--artifact', 'a', '--inputs', 'x', '--threshold', 'high'])).rejects.toThrow(
      '--threshold high is not valid',
    );
  });
});
