import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { findKustomize, kustomizeImageOf, runKustomize } from '../gitops/index.ts';
import { RELAY_IMAGE_NAME } from '../monitoring/alert-relay.ts';
import { TRAINER_IMAGE_NAME } from '../pipelines/training/kubernetes/index.ts';
import { exitCodeOf } from '../platform/errors.ts';
import { runSync } from '../platform/shell.ts';
import { kustomizeInstalled } from '../testing/gitops/kustomize.ts';
import { needs } from '../testing/services.ts';
import { main } from './pin-images.ts';

const TRAINER = `ghcr.io/acme/model-trainer@sha256:${'c'.repeat(64)}`;
const RELAY = `ghcr.io/acme/alert-relay@sha256:${'d'.repeat(64)}`;
let dir: string;
const git = (...a: string[]) =>
  runSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], { cwd: dir }).stdout.trim();
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pin-images-'));
  for (const m of ['training-job', 'alert-relay']) {
    await cp(join(import.meta.dirname, '..', 'manifests', m), join(dir, 'manifests', m), { recursive: true });
  }
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'template');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

needs(kustomizeInstalled()).it(
  'pins the trainer and relay images by digest in their manifests (comments kept) and commits both; --on kubernetes finds the trainer',
  async () => {
    const template = join(dir, 'manifests', 'training-job');
    const print = () => {};
    expect(await main(['--trainer', TRAINER, '--relay', RELAY, '--commit'], { cwd: dir, print })).toBe(0);
    const text = await readFile(join(template, 'kustomization.yaml'), 'utf8');
    expect(text).toContain('# Template of the training Job');
    expect(parse(text).images).toEqual([
      { name: TRAINER_IMAGE_NAME, newName: 'ghcr.io/acme/model-trainer', digest: `sha256:${'c'.repeat(64)}` },
    ]);
    expect(await kustomizeImageOf(template, TRAINER_IMAGE_NAME)).toBe(TRAINER);
    expect(await kustomizeImageOf(join(dir, 'manifests', 'alert-relay'), RELAY_IMAGE_NAME)).toBe(RELAY);
    expect(git('log', '-1', '--format=%s')).toBe(`images: trainer ${TRAINER}, relay ${RELAY}`);
    expect(git('show', '--name-only', '--format=', 'HEAD').split('\n')).toEqual([
      'manifests/alert-relay/kustomization.yaml',
      'manifests/training-job/kustomization.yaml',
    ]);
    // Again: nothing changes, nothing is committed.
    const head = git('rev-parse', 'HEAD');
    const out: string[] = [];
    expect(await main(['--trainer', TRAINER, '--commit'], { cwd: dir, print: (t) => void out.push(t) })).toBe(
      0,
    );
    expect(out.join('')).toBe(
      `manifests/training-job/kustomization.yaml: ${TRAINER_IMAGE_NAME} → ${TRAINER} (already)\n`,
    );
    expect(git('rev-parse', 'HEAD')).toBe(head);
    // Kustomize renders the Job (its checkout init container too) and the relay with those images.
    const kustomize = await findKustomize();
    const docs = (await runKustomize(kustomize, template)).split(/^---$/m).map((d) => parse(d));
    const job = docs.find((d) => d?.kind === 'Job');
    expect(job.spec.template.spec.containers[0].image).toBe(TRAINER);
    expect(job.spec.template.spec.initContainers[0].image).toBe(TRAINER);
    const relay = (await runKustomize(kustomize, join(dir, 'manifests', 'alert-relay')))
      .split(/^---$/m)
      .map((d) => parse(d))
      .find((d) => d?.kind === 'Deployment');
    expect(relay.spec.template.spec.containers[0].image).toBe(RELAY);
  },
);

it('refuses a tag without a digest, and no image at all (exit 2)', async () => {
  const err = await main(['--trainer', 'ghcr.io/acme/model-trainer:main'], {
    cwd: dir,
    print: () => {},
  }).catch((e: unknown) => e);
  expect(exitCodeOf(err)).toBe(2);
  expect((err as Error).message).toContain('is not an image reference by digest');
  expect(exitCodeOf(await main([], { cwd: dir, print: () => {} }).catch((e: unknown) => e))).toBe(2);
});
