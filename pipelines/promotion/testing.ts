/**
 * Test helpers for promotions (not exported from index.ts): a temp folder
 * laid out like the repository (models.lock.json, artifacts/, environments/
 * with a gates config) whose lock has real local artifacts, so the digest
 * gate fetches and hashes real files.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../lib/fs.ts';
import { stableStringify } from '../../lib/json.ts';
import { makeArtifact, makeEntry, tempDir } from '../../lib/lock/testing.ts';
import type { Lock } from '../../lib/lock/types.ts';
import type { GatesConfig } from './config.ts';

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
}

/**
 * A temp repo whose lock has one version per entry of `accuracies`
 * (version i+1, artifact artifacts/v<i+1> with macro_f1 = accuracy), and
 * `pins` moved in order through promotion records.
 */
export async function promotionRepo(
  accuracies: number[],
  pins: [env: string, version: string][] = [],
  gates: GatesConfig = testGates(),
): Promise<PromotionRepo> {
  const root = await tempDir('promotion-');
  const lock: Lock = { lockfileVersion: 1, models: {} };
  const model = {
    pins: {} as Record<string, string>,
    versions: {} as Lock['models'][string]['versions'],
    promotions: [] as Lock['models'][string]['promotions'],
  };
  for (const [i, accuracy] of accuracies.entries()) {
    const id = String(i + 1);
    const { files } = await makeArtifact(join(root, 'artifacts', `v${id}`), i + 1, {
      accuracy,
      macro_f1: accuracy,
    });
    model.versions[id] = makeEntry(files, {
      artifactUri: `artifacts/v${id}`,
      metrics: { accuracy, macro_f1: accuracy, samples: 100 },
    });
  }
  for (const [env, version] of pins) {
    model.promotions.push({
      env,
      from: model.pins[env] ?? null,
      to: version,
      at: '2026-01-01T00:00:00.000Z',
    });
    model.pins[env] = version;
  }
  if (accuracies.length) lock.models[MODEL] = model;
  const lockPath = join(root, 'models.lock.json');
  await writeFileAtomic(lockPath, stableStringify(lock));
  const environmentsDir = join(root, 'environments');
  for (const env of ['dev', 'staging', 'prod']) {
    await mkdir(join(environmentsDir, env), { recursive: true });
    await writeFileAtomic(join(environmentsDir, env, '.gitkeep'), ''); // git keeps no empty folder
  }
  const gatesPath = join(environmentsDir, 'promotion-gates.json');
  await writeJsonAtomic(gatesPath, gates);
  return { root, lockPath, environmentsDir, gatesPath };
}

/** The bytes of the lock and of every pin file (missing: null), to compare before and after. */
export async function snapshot(repo: PromotionRepo): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const path of [
    repo.lockPath,
    ...['dev', 'staging', 'prod'].map((e) => join(repo.environmentsDir, e, 'model-pin.yaml')),
  ]) {
    out[path] = await readFile(path, 'utf8').catch(() => null);
  }
  return out;
}
