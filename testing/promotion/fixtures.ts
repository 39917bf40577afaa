/**
 * Test helpers for promotions (not exported from index.ts): a temp folder
 * laid out like the repository (models.lock.json, artifacts/, environments/
 * with a gates config) whose lock has real local artifacts, so the digest
 * gate fetches and hashes real files.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Lock, versionIdOf, versionsDirOf, writeLock } from '../../lock/index.ts';
import type { GatesConfig } from '../../pipelines/promotion/config.ts';
import type { PromotionContext } from '../../pipelines/promotion/context.ts';
import { lockDigestVerifier } from '../../pipelines/promotion/gates.ts';
import { sha256 } from '../../platform/digest.ts';
import { writeFileAtomic, writeJsonAtomic } from '../../platform/fs.ts';
import { fileTree } from '../../platform/index.ts';
import { makeArtifact, makeEntry, tempDir } from '../lock/fixtures.ts';

export const MODEL = 'demo-classifier';

/** Gates close to the template's: dev takes the newest, staging the dev pin, prod the staging pin. */
export function testGates(): GatesConfig {
  const gates = {
    metricsPresent: ['accuracy', 'macro_f1'],
    minMetric: { accuracy: 0.9 },
    maxMetricDrop: [{ metric: 'accuracy', vs: 'prod', margin: 0.02 }],
    verifyDigests: true,
  };
  return {
    gatesVersion: 1,
    environments: {
      dev: { source: 'newest', gates },
      staging: { source: 'dev', gates },
      prod: { source: 'staging', gates },
    },
  };
}

export interface PromotionRepo {
  root: string;
  lockPath: string;
  environmentsDir: string;
  gatesPath: string;
  /** The version id of each entry of `accuracies`, in order (content-addressed: look them up here). */
  ids: string[];
}

/** A serving image by digest for tests: the n-th build. */
export const testImage = (n: number): string => `ghcr.io/acme/model-server@sha256:${sha256(`build ${n}`)}`;

/**
 * A temp repo whose lock has one version per entry of `accuracies`
 * (the i-th trained on day i+1, artifact artifacts/v<i+1> with macro_f1 =
 * accuracy), and `pins` moved in order through promotion records; a pin names
 * its version by 1-based position in `accuracies`, and runs image `image`
 * (default testImage(nth); null: no image recorded).
 */
export async function promotionRepo(
  accuracies: number[],
  pins: [env: string, nth: number, image?: string | null][] = [],
  gates: GatesConfig = testGates(),
): Promise<PromotionRepo> {
  const root = await tempDir('promotion-');
  const lock: Lock = { lockfileVersion: 2, models: {} };
  const model = {
    pins: {} as Record<string, string>,
    versions: {} as Lock['models'][string]['versions'],
    promotions: [] as Lock['models'][string]['promotions'],
  };
  const ids: string[] = [];
  for (const [i, accuracy] of accuracies.entries()) {
    const { files, root: digest } = await makeArtifact(join(root, 'artifacts', `v${i + 1}`), i + 1, {
      accuracy,
      macro_f1: accuracy,
    });
    const id = versionIdOf(digest);
    ids.push(id);
    model.versions[id] = makeEntry(files, {
      artifactUri: `artifacts/v${i + 1}`,
      createdAt: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
      metrics: { accuracy, macro_f1: accuracy, samples: 100 },
    });
  }
  for (const [env, nth, image = testImage(nth)] of pins) {
    const version = ids[nth - 1] as string;
    model.promotions.push({
      env,
      from: model.pins[env] ?? null,
      to: version,
      at: '2026-01-01T00:00:00.000Z',
      ...(image ? { image } : {}),
    });
    model.pins[env] = version;
  }
  if (accuracies.length) lock.models[MODEL] = model;
  const lockPath = join(root, 'models.lock.json');
  await writeLock(lockPath, lock);
  const environmentsDir = join(root, 'environments');
  for (const env of ['dev', 'staging', 'prod']) {
    await mkdir(join(environmentsDir, env), { recursive: true });
    await writeFileAtomic(join(environmentsDir, env, '.gitkeep'), ''); // git keeps no empty folder
  }
  const gatesPath = join(environmentsDir, 'promotion-gates.json');
  await writeJsonAtomic(gatesPath, gates);
  return { root, lockPath, environmentsDir, gatesPath, ids };
}

/** The bytes of the lock's files and of every pin file (missing: null), to compare before and after. */
export async function snapshot(repo: PromotionRepo): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  const versionsDir = versionsDirOf(repo.lockPath);
  for (const path of [
    repo.lockPath,
    ...(await fileTree.list(versionsDir)).map((rel) => join(versionsDir, rel)),
    ...['dev', 'staging', 'prod'].map((e) => join(repo.environmentsDir, e, 'model-pin.yaml')),
  ]) {
    out[path] = await readFile(path, 'utf8').catch(() => null);
  }
  return out;
}

/**
 * The promotion context of `repo` for library tests: no commit, a fixed
 * clock, the real digest check; `overrides` replace any field.
 */
export function repoContext(
  repo: PromotionRepo,
  overrides: Partial<PromotionContext> = {},
): PromotionContext {
  return {
    root: repo.root,
    lockPath: repo.lockPath,
    environmentsDir: repo.environmentsDir,
    gatesPath: repo.gatesPath,
    git: { commit: false, push: false, remote: 'origin', env: process.env },
    now: () => new Date('2026-02-03T04:05:06.000Z'),
    verifyDigests: lockDigestVerifier({ lockDir: repo.root }),
    print: () => {},
    ...overrides,
  };
}
