/**
 * The layers of the code (docs/contracts.md, "Layers"): every arrow points
 * down. platform/ imports nothing of ours; model/ only platform/; lock/ and
 * gitops/ the layers below them; training/, serving/ and monitoring/ are the
 * domains (serving/ imports only platform/ and model/, so the inference
 * server loads only what it runs); pipelines/ combine them; tools/ and
 * scripts/ sit on top. And the server's start-up loads no heavy package it
 * does not use (the Kubernetes client, the GitHub client, the Kubernetes
 * schemas, zx, the AWS SDK until the object store is first used).
 */
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CODE_FOLDERS, importsOf, runtimeClosure, tsFiles } from '../../testing/import-graph.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const isTest = (f: string) => /\.test\.ts$/.test(f) || f.split('/').includes('testing');
const code = tsFiles(ROOT, CODE_FOLDERS).filter((f) => !isTest(f));
const folder = (p: string) => (p.includes('/') ? (p.split('/')[0] as string) : '');

type Layer = (typeof CODE_FOLDERS)[number];
const BELOW: Record<Layer, readonly string[]> = {
  platform: [],
  model: ['platform'],
  lock: ['platform', 'model'],
  gitops: ['platform', 'model', 'lock'],
  training: ['platform', 'model'],
  serving: ['platform', 'model'],
  monitoring: ['platform', 'model'],
  pipelines: ['platform', 'model', 'lock', 'gitops', 'training', 'serving', 'monitoring'],
  tools: ['platform', 'model', 'lock', 'gitops', 'training', 'serving', 'monitoring', 'pipelines'],
  scripts: ['platform', 'model', 'lock', 'gitops', 'training', 'serving', 'monitoring', 'pipelines', 'tools'],
};
/** Edges the layout move (issue 24) has not removed yet, each with where it goes (none left). */
const NOT_YET: Record<string, string> = {};

const allowed = (from: string, to: string): boolean => {
  const layer = folder(from) as Layer;
  return folder(to) === layer || BELOW[layer].includes(folder(to));
};

describe('layers', () => {
  it.each(CODE_FOLDERS)('%s/ imports only the layers below it', (layer) => {
    const wrong = code
      .filter((f) => folder(f) === layer)
      .flatMap((f) => importsOf(ROOT, f))
      .filter((e) => e.to.includes('/') && e.to.endsWith('.ts') && !allowed(e.from, e.to))
      .map((e) => `${e.from} → ${e.to}`)
      .filter((edge) => !(edge in NOT_YET));
    expect(wrong).toEqual([]);
  });

  it('the check can fail: an upward import is found', () => {
    const edges = importsOf(ROOT, 'tools/policy/layers.test.ts');
    expect(edges.some((e) => e.to === 'testing/import-graph.ts')).toBe(true);
    expect(allowed('platform/fs.ts', 'lock/index.ts')).toBe(false);
    expect(allowed('serving/app.ts', 'training/train.ts')).toBe(false);
    expect(allowed('model/pin.ts', 'gitops/pin.ts')).toBe(false);
    expect(allowed('pipelines/promotion/promote.ts', 'lock/index.ts')).toBe(true);
  });

  it('every code folder is a layer, and lib/ is gone', () => {
    const top = new Set(tsFiles(ROOT, ['.']).map(folder));
    for (const f of ['lib', '']) top.delete(f);
    const expected = new Set<string>([...CODE_FOLDERS, 'testing', 'bench']);
    expect([...top].filter((f) => !expected.has(f) && f !== 'node_modules')).toEqual([]);
  });

  it("the server's command starts the inference thread before it loads anything heavy", () => {
    // serving/main.ts launches the thread, then imports serving/run.ts: TensorFlow.js, Koa and
    // the schemas load while the thread loads libtensorflow (bench/serving/startup.ts).
    const closure = runtimeClosure(ROOT, 'serving/main.ts');
    expect(closure.has('serving/worker/client.ts')).toBe(true);
    // Packages: only the CLI prelude's did-you-mean (platform/cli.ts).
    expect([...closure].filter((m) => !m.endsWith('.ts'))).toEqual(['fastest-levenshtein']);
    expect(closure.has('serving/run.ts')).toBe(false);
    expect(importsOf(ROOT, 'serving/main.ts').some((e) => e.to === 'serving/run.ts' && e.dynamic)).toBe(true);
  });

  it("the server's start-up loads neither the Kubernetes nor the GitHub client, nor the AWS SDK", () => {
    const closure = runtimeClosure(ROOT, 'serving/run.ts');
    expect(closure.has('serving/app.ts')).toBe(true); // the walk does reach the server
    expect(closure.has('@tensorflow/tfjs')).toBe(true);
    // The image copies no lock/: `npm run serve` (scripts/serve.ts) reads the lock, the server never does.
    expect([...closure].filter((m) => m.startsWith('lock/'))).toEqual([]);
    // The server reaches the object store client (s3:// model URIs), which loads the SDK only on first use.
    expect(closure.has('platform/object-store/client.ts')).toBe(true);
    for (const heavy of [
      '@kubernetes/client-node',
      '@actions/github',
      'kubernetes-models',
      '@kubernetes-models/argo-cd',
      'zx',
      '@aws-sdk/client-s3',
      '@aws-sdk/lib-storage',
    ]) {
      expect([heavy, closure.has(heavy)]).toEqual([heavy, false]);
    }
  });

  it('npm run promote (the pairedNonInferiority gate included) loads no TensorFlow', () => {
    const closure = runtimeClosure(ROOT, 'scripts/promote.ts');
    expect(closure.has('pipelines/promotion/gates.ts')).toBe(true);
    expect(closure.has('model/golden/stats.ts')).toBe(true);
    const tf = [...closure].filter((m) => m.startsWith('@tensorflow/') || m.startsWith('training/'));
    expect(tf).toEqual([]);
  });
});
