/**
 * The layers of the code (docs/contracts.md, "Layers"): every arrow points
 * down. lib/ (the shared library) imports no domain; training/ imports only
 * lib/; serving/ only lib/ and the one shared preprocessing module of
 * training/; monitoring/ may read serving/ and that preprocessing too;
 * pipelines/ combine the domains; scripts/ sit on top. And the server's
 * start-up loads no heavy package it does not use (the Kubernetes client,
 * the GitHub client, the Kubernetes schemas, zx).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { importsOf, runtimeClosure, tsFiles } from './testing/import-graph.ts';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const isTest = (f: string) => /\.test\.ts$/.test(f) || f.split('/').includes('testing');
const code = tsFiles(ROOT, ['lib', 'training', 'serving', 'monitoring', 'pipelines', 'scripts']).filter(
  (f) => !isTest(f),
);
const folder = (p: string) => (p.includes('/') ? (p.split('/')[0] as string) : '');
/** The shared preprocessing module serving and monitoring may use (CONVENTIONS / ARCHITECTURE). */
const SHARED_PREPROCESSING = ['training/preprocessing.ts', 'training/images.ts'];

const ALLOWED: Record<string, (to: string) => boolean> = {
  lib: (to) => folder(to) === 'lib',
  training: (to) => ['lib', 'training'].includes(folder(to)),
  serving: (to) => ['lib', 'serving'].includes(folder(to)) || SHARED_PREPROCESSING.includes(to),
  monitoring: (to) =>
    ['lib', 'monitoring', 'serving'].includes(folder(to)) ||
    SHARED_PREPROCESSING.includes(to) ||
    to === 'training/reference-stats.ts',
  pipelines: (to) => ['lib', 'training', 'serving', 'monitoring', 'pipelines'].includes(folder(to)),
  scripts: (to) => folder(to) !== 'bench',
};

describe('layers', () => {
  it.each(Object.keys(ALLOWED))('%s/ imports only the layers below it', (layer) => {
    const wrong = code
      .filter((f) => folder(f) === layer)
      .flatMap((f) => importsOf(ROOT, f))
      .filter((e) => e.to.includes('/') && e.to.endsWith('.ts') && !ALLOWED[layer]!(e.to))
      .map((e) => `${e.from} → ${e.to}`);
    expect(wrong).toEqual([]);
  });

  it('the check can fail: an upward import is found', () => {
    const edges = importsOf(ROOT, 'lib/layers.test.ts');
    expect(edges.some((e) => e.to === 'lib/testing/import-graph.ts')).toBe(true);
    expect(ALLOWED.lib!('pipelines/promotion/index.ts')).toBe(false);
    expect(ALLOWED.serving!('training/train.ts')).toBe(false);
  });

  it("the server's start-up loads neither the Kubernetes nor the GitHub client", () => {
    const closure = runtimeClosure(ROOT, 'serving/main.ts');
    expect(closure.has('serving/app.ts')).toBe(true); // the walk does reach the server
    expect(closure.has('@tensorflow/tfjs')).toBe(true);
    for (const heavy of [
      '@kubernetes/client-node',
      '@actions/github',
      'kubernetes-models',
      '@kubernetes-models/argo-cd',
      'zx',
    ]) {
      expect([heavy, closure.has(heavy)]).toEqual([heavy, false]);
    }
  });

  it('npm run promote (the pairedNonInferiority gate included) loads no TensorFlow', () => {
    const closure = runtimeClosure(ROOT, 'scripts/promote.ts');
    expect(closure.has('pipelines/promotion/gates.ts')).toBe(true);
    expect(closure.has('lib/golden/stats.ts')).toBe(true);
    const tf = [...closure].filter((m) => m.startsWith('@tensorflow/') || m.startsWith('training/'));
    expect(tf).toEqual([]);
  });
});
