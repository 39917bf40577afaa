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
import { writePin } from '../../gitops/pin.ts';
import { writeLock } from '../../lock/io.ts';
import { versionIdOf } from '../../lock/schema.ts';
import type { Lock, LockedVersion } from '../../lock/types.ts';
import { sha256 } from '../../platform/digest.ts';
import { makeEntry } from '../lock/fixtures.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MODEL = 'demo-classifier';

const hex = (s: string) => sha256(s);

/** A lock entry with made-up but well-formed digests (its rootDigest adds up, as lock checks); `seed` makes them differ. */
export function fakeEntry(seed: string): LockedVersion {
  return makeEntry(
    {
      'weights.bin': hex(`w${seed}`),
      'model.json': hex(`m${seed}`),
      'labels.json': hex(`l${seed}`),
    },
    { artifactUri: `mlflow-artifacts:/1/run${seed}/artifacts/model` },
  );
}

/** The version id of {@link fakeEntry}(seed) (content-addressed: v + 12 hex of its root digest). */
export const fakeVersion = (seed: string): string => versionIdOf(fakeEntry(seed).rootDigest);

/** The entry of a version id of {@link fakeLock} (or of any seed 1..9). */
export function fakeEntryOf(version: string): LockedVersion {
  for (let seed = 1; seed <= 9; seed++)
    if (fakeVersion(String(seed)) === version) return fakeEntry(String(seed));
  throw new Error(`fakeEntryOf: no seed gives version ${version}`);
}

/** A serving image by digest (made up, well-formed). */
export const fakeImage = (n: string): string => `ghcr.io/acme/model-server@sha256:${hex(`image ${n}`)}`;

/**
 * Versions of seeds 1 and 2; dev and staging pinned to 2, prod to 1, each
 * moved by a promotion record that names the image it runs by digest.
 */
export function fakeLock(): Lock {
  const [v1, v2] = [fakeVersion('1'), fakeVersion('2')];
  const pins = { dev: v2, staging: v2, prod: v1 };
  return {
    lockfileVersion: 2,
    models: {
      [MODEL]: {
        pins,
        versions: { [v1]: fakeEntry('1'), [v2]: fakeEntry('2') },
        promotions: Object.entries(pins).map(([env, to]) => ({
          env,
          from: null,
          to,
          at: '2026-01-01T00:00:00.000Z',
          image: fakeImage(to),
        })),
      },
    },
  };
}

/** Write every environment's model-pin.yaml as `lock` pins it (version, entry, image). */
export async function writePins(root: string, lock: Lock = fakeLock()): Promise<void> {
  const m = lock.models[MODEL]!;
  for (const [env, version] of Object.entries(m.pins)) {
    const image = m.promotions.filter((p) => p.env === env).at(-1)?.image;
    await writePin(join(root, 'environments', env), {
      model: MODEL,
      version,
      entry: m.versions[version]!,
      ...(image ? { image } : {}),
    });
  }
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
    'manifests/scoring-job',
    'manifests/training-job',
    'manifests/alert-relay',
    'environments',
  ]) {
    await cp(join(REPO_ROOT, dir), join(root, dir), { recursive: true });
  }
  await writeLock(join(root, 'models.lock.json'), lock);
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
