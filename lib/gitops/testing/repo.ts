/**
 * Test helper: a temporary copy of the repository's Kustomize tree
 * (manifests/*, environments/*)
 * with a small models.lock.json, so tests can pin, mutate and render without
 * touching the checkout.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../digest.ts';
import { writeJsonAtomic } from '../../fs.ts';
import { makeEntry } from '../../lock/testing.ts';
import type { Lock, LockedVersion } from '../../lock/types.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MODEL = 'demo-classifier';

const hex = (s: string) => sha256(s);

/** A lock entry with made-up but well-formed digests (its rootDigest adds up, as lib/lock checks). */
export function fakeEntry(version: string): LockedVersion {
  return makeEntry(
    {
      'weights.bin': hex(`w${version}`),
      'model.json': hex(`m${version}`),
      'labels.json': hex(`l${version}`),
    },
    { artifactUri: `mlflow-artifacts:/1/run${version}/artifacts/model` },
  );
}

/** Versions 1 and 2; dev and staging pinned to 2, prod to 1, each moved by a promotion record. */
export function fakeLock(): Lock {
  const pins = { dev: '2', staging: '2', prod: '1' };
  return {
    lockfileVersion: 1,
    models: {
      [MODEL]: {
        pins,
        versions: { '1': fakeEntry('1'), '2': fakeEntry('2') },
        promotions: Object.entries(pins).map(([env, to]) => ({
          env,
          from: null,
          to,
          at: '2026-01-01T00:00:00.000Z',
        })),
      },
    },
  };
}

/** Copy the Kustomize tree into a new temp dir and write models.lock.json there; returns the root. */
export async function tempRepo(lock: Lock = fakeLock()): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'gitops-render-'));
  for (const dir of [
    'manifests/base',
    'manifests/argocd',
    'manifests/ci-access',
    'manifests/components',
    'manifests/monitoring',
    'manifests/training-job',
    'environments',
  ]) {
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
