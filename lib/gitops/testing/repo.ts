/**
 * Test helper: a temporary copy of the repository's Kustomize tree
 * (manifests/base, manifests/argocd, manifests/training-job, environments/*)
 * with a small models.lock.json, so tests can pin, mutate and render without
 * touching the checkout.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../../fs.ts';
import type { LockVersionEntry, PinsLock } from '../lock.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MODEL = 'demo-classifier';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** A lock entry with made-up but well-formed digests. */
export function fakeEntry(version: string): LockVersionEntry {
  return {
    artifactUri: `mlflow-artifacts:/1/run${version}/artifacts/model`,
    digests: {
      'weights.bin': hex(`w${version}`),
      'model.json': hex(`m${version}`),
      'labels.json': hex(`l${version}`),
    },
    rootDigest: hex(`root${version}`),
  };
}

/** Versions 1 and 2; dev and staging pinned to 2, prod to 1. */
export function fakeLock(): PinsLock {
  return {
    lockfileVersion: 1,
    models: {
      [MODEL]: {
        pins: { dev: '2', staging: '2', prod: '1' },
        versions: { '1': fakeEntry('1'), '2': fakeEntry('2') },
      },
    },
  };
}

/** Copy the Kustomize tree into a new temp dir and write models.lock.json there; returns the root. */
export async function tempRepo(lock: PinsLock = fakeLock()): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'gitops-render-'));
  for (const dir of ['manifests/base', 'manifests/argocd', 'manifests/training-job', 'environments']) {
    await cp(join(REPO_ROOT, dir), join(root, dir), { recursive: true });
  }
  await writeJsonAtomic(join(root, 'models.lock.json'), lock);
  return root;
}

/** Replace `from` by `to` in a file of the temp repo; fails when `from` is not there (a test that cannot fail is no test). */
export async function edit(root: string, file: string, from: string | RegExp, to: string): Promise<void> {
  const path = join(root, file);
  const text = await readFile(path, 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`edit: ${String(from)} not found in ${file}`);
  await writeFile(path, next);
}
