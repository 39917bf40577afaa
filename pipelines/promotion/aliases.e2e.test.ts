// Promotion moves MLflow's aliases (issue 25.8), against a real MLflow server: each move
// of a pin points the environment's alias (prod: also champion) at the registered model
// version of the pinned lock entry; a revert moves it back; a version with no registered
// model version is said; and with MLflow down the promotion is committed all the same
// and says how to set the alias later.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { readLock, writeLock } from '../../lock/index.ts';
import { MlflowClient } from '../../platform/mlflow/index.ts';
import { gitIdentity } from '../../testing/git-repos.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../../testing/mlflow.ts';
import {
  MODEL,
  type PromotionRepo,
  promotionRepo,
  repoContext,
  testImage,
} from '../../testing/promotion/fixtures.ts';
import { needs, tool } from '../../testing/services.ts';
import { promote, revert } from './promote.ts';

const { it } = needs(mlflowInstalled(), tool('git', 'apt-get install git'));
const { env: GIT_ENV, git } = gitIdentity('Promo Tester', 'promo@example.com');

let server: MlflowServer;
let client: MlflowClient;
let repo: PromotionRepo;
/** The registered model version of each lock version (the third has none: a local run). */
const registered: Record<string, string> = {};

beforeAll(async () => {
  server = await startMlflow();
  client = new MlflowClient({ baseUrl: server.uri, retry: { maxRetries: 0 } });
  repo = await promotionRepo([0.95, 0.96, 0.97]);
  // Each of the first two versions is a run with a registered model version, as ci:train makes them.
  const experimentId = await client.getOrCreateExperiment('aliases-e2e');
  await client.createRegisteredModel(MODEL);
  const lock = await readLock(repo.lockPath);
  const versions = lock.models[MODEL]!.versions;
  for (const id of repo.ids.slice(0, 2)) {
    const run = await client.createRun({ experimentId, runName: id });
    const mv = await client.createModelVersion({
      name: MODEL,
      source: `${run.artifact_uri}/model`,
      runId: run.run_id,
    });
    await client.setAlias(MODEL, 'candidate', mv.version);
    registered[id] = mv.version;
    versions[id]!.mlflow = { runId: run.run_id, modelVersion: mv.version, trackingUri: server.uri };
  }
  await writeLock(repo.lockPath, lock);
  git(repo.root, 'init', '--quiet', '-b', 'main');
  git(repo.root, 'add', '-A');
  git(repo.root, 'commit', '--quiet', '-m', 'template');
}, 300_000);
afterAll(async () => {
  await server?.close();
  if (repo) await rm(repo.root, { recursive: true, force: true });
});

/** A committing promotion context with MLflow `mlflow` (null: no MLFLOW_TRACKING_URI) and the printed lines in `out`. */
function ctx(out: string[], mlflow: MlflowClient | null = client) {
  return repoContext(repo, {
    git: { commit: true, push: false, remote: 'origin', env: { ...process.env, ...GIT_ENV } },
    print: (t) => out.push(t),
    by: 'octocat',
    mlflow: mlflow ?? undefined,
  });
}
const aliasOf = async (alias: string) => (await client.getVersionByAlias(MODEL, alias)).version;

it('each promotion points the environment alias at its registered version; prod is also @champion; a revert moves it back', async () => {
  const [v1, v2] = repo.ids as [string, string];
  const out: string[] = [];
  const dev = await promote({ env: 'dev', version: v1, image: testImage(1) }, ctx(out));
  expect(dev.aliases).toMatchObject({ status: 'set', aliases: ['dev'], modelVersion: registered[v1] });
  expect(out.join('')).toContain(`MLflow: ${MODEL} version ${registered[v1]} is @dev now (${server.uri})`);
  await promote({ env: 'staging' }, ctx(out));
  const prod = await promote({ env: 'prod' }, ctx(out));
  expect(prod.aliases?.aliases).toEqual(['prod', 'champion']);
  expect([
    await aliasOf('dev'),
    await aliasOf('staging'),
    await aliasOf('prod'),
    await aliasOf('champion'),
  ]).toEqual(Array(4).fill(registered[v1]));

  await promote({ env: 'dev', version: v2 }, ctx(out));
  expect(await aliasOf('dev')).toBe(registered[v2]);
  expect(await aliasOf('candidate')).toBe(registered[v2]); // training's alias is left alone
  await revert({ env: 'dev', version: v2, reason: 'soak: ServingErrorBudgetBurnFast fired' }, ctx(out));
  expect(await aliasOf('dev')).toBe(registered[v1]);
  expect(await aliasOf('prod')).toBe(registered[v1]);
});

it('a version with no registered model version is said, not an error; the alias stays where it was', async () => {
  const v3 = repo.ids[2] as string;
  const out: string[] = [];
  const before = await aliasOf('dev');
  const r = await promote({ env: 'dev', version: v3 }, ctx(out));
  expect(r.changed).toBe(true);
  expect(r.aliases?.status).toBe('no-registered-version');
  expect(out.join('')).toContain(
    `MLflow: ${MODEL}@${v3} has no registered model version (trained without a tracking server): no alias to move`,
  );
  expect(await aliasOf('dev')).toBe(before);
});

it('MLflow down: the promotion is committed all the same, and says how to set the alias when MLflow is back', async () => {
  const v2 = repo.ids[1] as string;
  const out: string[] = [];
  await server.stop();
  try {
    const r = await promote({ env: 'dev', version: v2 }, ctx(out));
    expect(r.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(git(repo.root, 'log', '-1', '--format=%s')).toContain(`promote ${MODEL}@${v2} to dev`);
    expect(r.aliases?.status).toBe('failed');
    const text = out.join('');
    expect(text).toContain(`warning: MLflow: @dev not moved to ${MODEL} version ${registered[v2]} (`);
    expect(text).toContain('The promote stands in git');
    expect(text).toContain(
      `curl -fsS -X POST -H "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" -H 'Content-Type: application/json' -d '{"name":"${MODEL}","alias":"dev","version":"${registered[v2]}"}' ${server.uri}/api/2.0/mlflow/registered-models/alias`,
    );
  } finally {
    await server.start();
  }
  expect(await aliasOf('dev')).not.toBe(registered[v2]);
  // The next move of dev (here: the same promotion again, which changes nothing in git) sets it.
  const again = await promote({ env: 'dev', version: v2 }, ctx(out));
  expect(again.changed).toBe(false);
  expect(await aliasOf('dev')).toBe(registered[v2]);
});

it('a version registered on another tracking server moves no alias here; without MLFLOW_TRACKING_URI it is said', async () => {
  const v1 = repo.ids[0] as string;
  const out: string[] = [];
  const other = new MlflowClient({ baseUrl: 'http://127.0.0.1:9', retry: { maxRetries: 0 } });
  const r = await promote({ env: 'dev', version: v1 }, ctx(out, other));
  expect(r.aliases?.status).toBe('other-server');
  expect(out.join('')).toContain(`was registered at ${server.uri}, not at http://127.0.0.1:9`);
  const none = await promote({ env: 'dev', version: v1 }, ctx(out, null));
  expect(none.aliases?.status).toBe('no-tracking-server');
});
