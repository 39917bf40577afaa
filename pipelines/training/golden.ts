/**
 * Champion vs challenger on the same data, the training side: before a run,
 * load the golden set the training config pins (digest checked) and score the
 * champion, the version pinned in prod (fetched from its artifactUri through
 * platform/artifact-store, every file sha256-checked), on it. train() then scores
 * the candidate on the same examples and writes both into the candidate's
 * golden.json, which the PR comment and the promotion gate
 * pairedNonInferiority read (docs/promotion.md). A champion that cannot be
 * fetched is said in golden.json, never a training failure.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { readLock } from '../../lock/index.ts';
import { buildLayersModel, modelParts } from '../../model/artifact/index.ts';
import { type BackendName, selectBackend, TRAINING_ORDER } from '../../model/backend.ts';
import { readVerifiedFiles } from '../../platform/artifact-store/index.ts';
import { mlflowConfigFromEnv } from '../../platform/mlflow/index.ts';
import type { ObjectStore } from '../../platform/object-store/index.ts';
import { safeUrl } from '../../platform/redact.ts';
import type { TrainingConfig } from '../../training/config.ts';
import { type ChampionScore, type GoldenSet, loadGoldenSet, predictGolden } from '../../training/index.ts';

/** The environment whose pinned version is the champion, unless told otherwise. */
export const CHAMPION_ENV = 'prod';

export interface PrepareGoldenOptions {
  config: TrainingConfig;
  /** Names the config in a digest error. */
  configPath?: string;
  model: string;
  /** The lock whose pin in `championEnv` is the champion (absent: no champion). */
  lockPath?: string;
  championEnv?: string;
  /** MLFLOW_TRACKING_URI / _TOKEN for `mlflow-artifacts:` URIs. */
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
  /** The object store, for a golden pointer or a champion artifact at an `s3://` URL. */
  objectStore?: ObjectStore;
  log?: (line: string) => void;
  /** The backend training will use (TRAINING_BACKEND): the champion is scored on the same one. */
  backend?: BackendName;
}

/** Score the version of `model` pinned in `championEnv` on `set`, or say why not. */
async function scoreChampion(set: GoldenSet, o: PrepareGoldenOptions): Promise<ChampionScore> {
  const env = o.championEnv ?? CHAMPION_ENV;
  if (!o.lockPath || !existsSync(o.lockPath)) return { env, note: `no lock file: nothing pinned in ${env}` };
  const lock = await readLock(o.lockPath);
  const version = lock.models[o.model]?.pins[env];
  const entry = version === undefined ? undefined : lock.models[o.model]?.versions[version];
  if (version === undefined || !entry) {
    return { env, note: `no version of ${o.model} is pinned in ${env}: no champion to compare with` };
  }
  try {
    const mlflow = mlflowConfigFromEnv(o.env);
    // Read as serving reads a version: every file checked in memory, then the one artifact reader.
    const files = await readVerifiedFiles(entry.artifactUri, entry.digests, {
      baseDir: dirname(o.lockPath),
      rootDigest: entry.rootDigest,
      timeoutMs: 60_000,
      ...(mlflow ? { mlflow } : {}),
      ...(o.objectStore ? { objectStore: o.objectStore } : {}),
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
    const { parts, labels, spec } = modelParts({ uri: entry.artifactUri, files });
    // The backend train() will pick (the same call): both models are scored on the same one.
    await selectBackend(TRAINING_ORDER, o.backend);
    const model = await buildLayersModel(parts);
    try {
      const predicted = predictGolden(model, spec, labels, set);
      return { env, predictions: { version, rootDigest: entry.rootDigest, predicted } };
    } finally {
      model.dispose();
    }
  } catch (e) {
    return {
      env,
      note: `${env} version ${version} could not be scored (${safeUrl(entry.artifactUri)}: ${(e as Error).message.split('\n')[0]})`,
    };
  }
}

/**
 * What train() needs to write golden.json: the golden set (digest checked:
 * DIGEST_MISMATCH otherwise, before any training) and the champion's score.
 * Undefined, with a log line, when the config has no `golden` section.
 */
export async function prepareGolden(
  o: PrepareGoldenOptions,
): Promise<{ set: GoldenSet; champion: ChampionScore } | undefined> {
  const log = o.log ?? (() => {});
  if (!o.config.golden) {
    log(
      `golden set: none in ${o.configPath ?? 'the training config'} (no paired comparison with the champion)`,
    );
    return undefined;
  }
  const set = await loadGoldenSet(o.config.golden, {
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.objectStore ? { objectStore: o.objectStore } : {}),
    ...(o.configPath ? { what: o.configPath } : {}),
  });
  const champion = await scoreChampion(set, o);
  log(
    `golden set ${set.name} (${set.digest.slice(0, 19)}, ${set.items.length} examples): ${'predictions' in champion ? `champion ${champion.predictions.version} (${champion.env}) scored` : champion.note}`,
  );
  return { set, champion };
}
