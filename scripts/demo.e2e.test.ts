/**
 * `npm run demo` end to end with a tiny training config and --no-wait: the
 * real data generator, training, local run store, lock, pin, Kustomize
 * render, serving process and curl, in a temp work folder.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { readLock, versionIdOf } from '../lock/index.ts';
import type { DemoResult } from '../pipelines/demo/index.ts';
import { exitCodeOf, ProjectError } from '../platform/index.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { needs, tool } from '../testing/services.ts';
import { tinyTrainingConfig } from '../testing/training/tiny-config.ts';
import { main } from './demo.ts';

const ROOT = resolve(import.meta.dirname, '..');
/** For the test that needs Kustomize and curl (the one before needs neither). */
const { test } = needs(kustomizeInstalled(), tool('curl', 'apt-get install curl'));
let dir: string;
let configPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demo-e2e-'));
  configPath = join(dir, 'tiny.json');
  // The tiny model learns little in one epoch: the demo's promotion runs with gates it can pass.
  const gates = JSON.parse(await readFile(join(ROOT, 'environments', 'promotion-gates.json'), 'utf8'));
  gates.environments.dev.gates.minMetric = { accuracy: 0 };
  await writeFile(join(dir, 'gates.json'), JSON.stringify(gates));
  await writeFile(configPath, JSON.stringify(tinyTrainingConfig({ name: 'tiny-demo', dataPath: 'unused' })));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('scripts/demo.ts', () => {
  it('is bad usage (exit 2) with an unknown flag or a bad port', async () => {
    for (const argv of [['--bogus'], ['--port', 'x'], ['--port', '70000'], ['extra']]) {
      const err = await main(argv, { print: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProjectError);
      expect(exitCodeOf(err)).toBe(2);
    }
  });

  test('runs every step on a copy: trains, pins dev, renders it, serves it, answers curl', async () => {
    const lockBefore = await readFile(join(ROOT, 'models.lock.json'), 'utf8');
    const work = join(dir, 'work');
    const lines: string[] = [];
    let result: DemoResult | undefined;
    const code = await main(
      [
        ...['--config', configPath, '--work', work, '--port', '0', '--no-wait', '--no-progress'],
        ...['--gates', join(dir, 'gates.json')],
      ],
      { env: {}, print: (l) => lines.push(l), onResult: (r) => (result = r) },
    );
    expect(code).toBe(0);
    const out = lines.join('\n');
    for (let n = 1; n <= 7; n++) expect(out).toMatch(new RegExp(`^== ${n}/7 `, 'm'));
    expect(out).toContain('a COPY: your models.lock.json and environments/ are not modified');
    expect(out).toMatch(/^Done in \d+\.\d s: 1\. /m);

    // The lock in the work folder has the one candidate pinned to dev, with its promotion recorded.
    const lock = await readLock(join(work, 'models.lock.json'));
    const m = lock.models['tiny-demo']!;
    const [version] = Object.keys(m.versions) as [string];
    expect(version).toBe(versionIdOf(m.versions[version]!.rootDigest));
    expect(m.pins).toEqual({ dev: version });
    expect(m.promotions).toEqual([expect.objectContaining({ env: 'dev', from: null, to: version })]);
    expect(m.versions[version]!.artifactUri).toBe('artifacts/tiny-demo');
    // The repository's own lock is untouched.
    expect(await readFile(join(ROOT, 'models.lock.json'), 'utf8')).toBe(lockBefore);

    // The run is in the local store of the work folder.
    const runs = await readdir(join(work, 'mlruns-local'), { recursive: true });
    expect(runs.length).toBeGreaterThan(0);

    // The rendered dev Deployment names the pinned version.
    const rendered = await readFile(join(work, 'rendered', 'environments', 'dev.yaml'), 'utf8');
    const docs = rendered
      .split(/^---$/m)
      .map((d) => parse(d))
      .filter(Boolean);
    const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'model-server');
    expect(dep.metadata.namespace).toBe('ml-dev');
    expect(dep.spec.template.metadata.annotations['ml.gitops/model-version']).toBe(version);
    const env = Object.fromEntries(
      dep.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(env.SERVING_MODEL_NAME).toBe('tiny-demo');
    expect(env.SERVING_MODEL_VERSION).toBe(version);
    expect(env.SERVING_MODEL_SHA256).toBe(m.versions[version]!.rootDigest);

    // The exact curl command is printed, and the answer names the model version.
    expect(result).toBeDefined();
    const r = result!;
    expect(r.curlCommand).toBe(`curl -s -F image=@${r.image} ${r.url}/predict`);
    expect(out).toContain(`   $ ${r.curlCommand}`);
    expect(r.answer.model).toBe('tiny-demo');
    expect(r.answer.version).toBe(version);
    expect(r.answer.predictions).toHaveLength(3);
    for (const p of r.answer.predictions) {
      expect(['circle', 'cross', 'square', 'triangle']).toContain(p.label);
      expect(p.probability).toBeGreaterThanOrEqual(0);
    }
    expect(out).toContain(`"version": "${version}"`);
    expect(out).toContain(`page:    ${r.url}/`);

    // --no-wait stopped the server.
    await expect(fetch(`${r.url}/healthz`)).rejects.toThrow();
  }, 180_000);
});
