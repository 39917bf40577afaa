import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { exitCodeOf } from '../lib/errors.ts';
import { findKustomize, kustomizeImageOf, runKustomize } from '../lib/gitops/index.ts';
import { runSync } from '../lib/shell.ts';
import { inCI } from '../lib/testing/services.ts';
import { TRAINER_IMAGE_NAME } from '../training/kubernetes/index.ts';
import { main } from './trainer-image.ts';

const REF = `ghcr.io/acme/model-trainer@sha256:${'c'.repeat(64)}`;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trainer-image-'));
  await cp(
    join(import.meta.dirname, '..', 'manifests', 'training-job'),
    join(dir, 'manifests', 'training-job'),
    {
      recursive: true,
    },
  );
  const git = (...a: string[]) =>
    runSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], { cwd: dir });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'template');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

it('pins the trainer image by digest in the Job template (comments kept), where --on kubernetes finds it; commits it', async () => {
  const template = join(dir, 'manifests', 'training-job');
  const out: string[] = [];
  expect(
    await main([REF, '--commit'], { cwd: dir, print: (t) => void out.push(t), env: { ...process.env } }),
  ).toBe(0);
  const text = await readFile(join(template, 'kustomization.yaml'), 'utf8');
  expect(text).toContain('# Template of the training Job');
  expect(parse(text).images).toEqual([
    { name: TRAINER_IMAGE_NAME, newName: 'ghcr.io/acme/model-trainer', digest: `sha256:${'c'.repeat(64)}` },
  ]);
  expect(await kustomizeImageOf(template, TRAINER_IMAGE_NAME)).toBe(REF);
  expect(runSync('git', ['log', '-1', '--format=%s'], { cwd: dir }).stdout.trim()).toBe(
    `trainer image: ${REF}`,
  );
  out.length = 0;
  expect(await main([REF, '--commit'], { cwd: dir, print: (t) => void out.push(t) })).toBe(0);
  expect(out.join('')).toBe(`manifests/training-job pins ${REF} already\n`);
  // Kustomize renders the Job (and its checkout init container) with that image.
  const kustomize = await findKustomize().catch((e: Error) => {
    if (inCI()) throw e;
    return undefined;
  });
  if (!kustomize) return;
  const docs = (await runKustomize(kustomize, template)).split(/^---$/m).map((d) => parse(d));
  const job = docs.find((d) => d?.kind === 'Job');
  expect(job.spec.template.spec.containers[0].image).toBe(REF);
  expect(job.spec.template.spec.initContainers[0].image).toBe(REF);
});

it('refuses a tag without a digest (exit 2)', async () => {
  const err = await main(['ghcr.io/acme/model-trainer:main'], { cwd: dir, print: () => {} }).catch(
    (e: unknown) => e,
  );
  expect(exitCodeOf(err)).toBe(2);
  expect((err as Error).message).toContain('is not an image reference by digest');
});
