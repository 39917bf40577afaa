/**
 * Regression (issue 11): nothing checked where a lock entry came from, so a
 * hand-edited entry with correct digests of an attacker's model and accuracy
 * 0.99 reached dev after merge. `lock check-provenance` compares a pull
 * request's lock with its base against a REAL MLflow server and a real run,
 * recorded by the project's own tracking code (training/tracking: params, tags,
 * test_* metrics, the artifact uploaded through the artifact proxy, a
 * registered model version).
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import {
  type ArtifactOrigins,
  addCandidate,
  checkProvenance,
  emptyLock,
  entryFromArtifact,
  type Lock,
  type LockedVersion,
  loadArtifactOrigins,
  lockFiles,
  type ProvenanceOptions,
  type ProvenanceReport,
  pinVersion,
  versionIdOf,
  writeLock,
} from '../lock/index.ts';
import { SIGNING_POLICY_PATH } from '../model/signing/index.ts';
import { rootDigest } from '../platform/digest.ts';
import { mlflowConfigFromEnv } from '../platform/mlflow/index.ts';
import { makeTestRepos } from '../testing/git-repos.ts';
import { makeArtifact, makeEntry, serveFolder, tempDir } from '../testing/lock/fixtures.ts';
import { type MlflowServer, mlflowInstalled, startMlflow } from '../testing/mlflow.ts';
import { needs } from '../testing/services.ts';
import { signedEntry, type TestKey, testKey } from '../testing/signing.ts';
import { recorderFromEnv, sourceTags, trackingCallbacks } from '../training/tracking/index.ts';
import { main } from './lock.ts';

const MODEL = 'demo';
const COMMIT = 'a'.repeat(40);
// Every test is in the describe below: jest runs no hook when they are all skipped.
const { describe } = needs(mlflowInstalled());
let server: MlflowServer;
let dir: string;
let artifactDir: string;
/** The base: one older version (a local one: the base is trusted as it is). */
let base: Lock;
/** The faithful entry of the real run, and its version id in `head`. */
let entry: LockedVersion;
let head: Lock;
let added: string;
const NO_EXTRA: ArtifactOrigins = { origins: [], allowLocalEntries: false };

beforeAll(async () => {
  server = await startMlflow();
  dir = await tempDir('provenance-');
  const old = await makeArtifact(join(dir, 'old'), 1);
  base = addCandidate(emptyLock(), {
    model: MODEL,
    entry: makeEntry(old.files, { artifactUri: 'old' }),
  }).lock;
  artifactDir = join(dir, 'candidate');
  await makeArtifact(artifactDir, 5, { accuracy: 0.8125, macro_f1: 0.8, samples: 16 });
  // A real run, as training records it.
  const env = { MLFLOW_TRACKING_URI: server.uri };
  const { recorder } = recorderFromEnv({ env, cwd: dir, log: () => {} });
  const hooks = trackingCallbacks({
    recorder,
    experiment: 'provenance',
    modelName: MODEL,
    aliases: ['candidate'],
    sourceTags: sourceTags({ commit: COMMIT }),
  });
  await hooks.onRunStart({ config: { seed: 5 }, datasetDigest: `sha256:${'d'.repeat(64)}`, runName: 'p' });
  const tracking = await hooks.onRunEnd({ artifactDir });
  entry = await entryFromArtifact(artifactDir, {
    uri: `${tracking.artifactUri}/model`,
    runId: tracking.runId,
    modelVersion: tracking.modelVersion ?? null,
    trackingUri: server.uri,
  });
  ({ lock: head, version: added } = addCandidate(base, { model: MODEL, entry }));
}, 600_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const check = (
  h: Lock,
  origins: ArtifactOrigins = NO_EXTRA,
  b: Lock = base,
  extra: Partial<ProvenanceOptions> = {},
): Promise<ProvenanceReport> =>
  checkProvenance(b, h, {
    lockDir: dir,
    origins,
    mlflow: mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: server.uri }),
    ...extra,
  });

/** `head` with the added entry replaced by `edit(entry)`. */
function tampered(edit: (e: LockedVersion) => LockedVersion): Lock {
  return addCandidate(base, { model: MODEL, entry: edit(structuredClone(entry)) }).lock;
}

const messages = (r: ProvenanceReport) => r.problems.map((p) => p.message);

/** A pull request's checkout: commit a lock (all files) to it, and run `npm run lock -- check-provenance --base main` there. */
function checkout(repos: Awaited<ReturnType<typeof makeTestRepos>>) {
  const commit = async (lock: Lock, message: string) => {
    await writeLock(join(repos.work, 'models.lock.json'), lock);
    repos.git(['add', '-A']);
    repos.git(['-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', 'commit', '-q', '-m', message]);
  };
  const run = async (args: string[]) => {
    let out = '';
    const code = await main(['check-provenance', '--base', 'main', ...args], {
      cwd: repos.work,
      env: { MLFLOW_TRACKING_URI: server.uri },
      print: (t) => {
        out += t;
      },
    });
    return { code, out };
  };
  return { commit, run };
}

describe('lock check-provenance against a real MLflow run', () => {
  it('a faithful entry passes: run, metrics, commit, dataset, registered version and every digest match', async () => {
    expect(entry.mlflow.runId).toMatch(/^[0-9a-f]{32}$/);
    expect(entry.mlflow.modelVersion).toBe('1');
    const r = await check(head);
    expect(r.problems).toEqual([]);
    expect(r).toEqual({ ok: true, added: [{ model: MODEL, version: added, ok: true }], problems: [] });
  });

  it('tampered metrics (accuracy 0.99) fail, naming metrics.accuracy; the logged value only where asked (issue 23.5)', async () => {
    const forged = tampered((e) => ({ ...e, metrics: { ...e.metrics, accuracy: 0.99 } }));
    const r = await check(forged);
    expect(r.ok).toBe(false);
    // The check runs for fork pull requests, whose logs are public: the private server's value is not printed.
    expect(messages(r)).toEqual([
      `model "${MODEL}" version ${added}: metrics.accuracy: is 0.99, but run ${entry.mlflow.runId} logged another test_accuracy`,
    ]);
    expect(JSON.stringify(r)).not.toContain('0.8125');
    const shown = await check(forged, NO_EXTRA, base, { revealTrackingValues: true });
    expect(messages(shown)).toEqual([
      `model "${MODEL}" version ${added}: metrics.accuracy: is 0.99, but run ${entry.mlflow.runId} logged another test_accuracy (0.8125)`,
    ]);
  });

  it('regression (issue 23.5): more added versions than a pull request may add are refused before any lookup', async () => {
    let lock = head;
    for (let i = 0; i < 5; i++) {
      const extra = structuredClone(entry);
      extra.digests = { ...extra.digests, [`extra-${i}.bin`]: String(i).repeat(64) };
      extra.rootDigest = rootDigest(extra.digests);
      lock = addCandidate(lock, { model: MODEL, entry: extra }).lock;
    }
    const requests: string[] = [];
    const counting: typeof fetch = (input, init) => {
      requests.push(String(input));
      return fetch(input, init);
    };
    const r = await check(lock, NO_EXTRA, base, { fetch: counting });
    expect(r).toEqual({
      ok: false,
      added: [],
      problems: [
        {
          model: '',
          version: '',
          field: 'versions',
          message:
            '6 versions added; a pull request adds at most 5 (a training pull request adds one): split it, nothing was looked up',
        },
      ],
    });
    expect(requests).toEqual([]);
  });

  it("tampered digests (an attacker's weights, root recomputed) fail, naming the file", async () => {
    const evil = 'e'.repeat(64);
    const r = await check(
      tampered((e) => {
        const digests = { ...e.digests, 'weights.bin': evil };
        return { ...e, digests, rootDigest: rootDigest(digests) };
      }),
    );
    expect(r.problems.map((p) => p.field)).toEqual(['digests["weights.bin"]']);
    // The root digest moved, so did the content-addressed version id.
    const id = versionIdOf(rootDigest({ ...entry.digests, 'weights.bin': evil }));
    expect(messages(r)[0]).toMatch(
      new RegExp(`^model "${MODEL}" version ${id}: digests\\["weights.bin"\\]: .*${evil}`),
    );
  });

  it('another origin fails naming artifactUri, and nothing is fetched from it; listed, it is still not the run', async () => {
    const attacker = await serveFolder(artifactDir, { prefix: '/model' });
    try {
      const moved = tampered((e) => ({ ...e, artifactUri: `${attacker.url}/model` }));
      const r = await check(moved);
      expect(messages(r)).toEqual([
        `model "${MODEL}" version ${added}: artifactUri: origin ${attacker.url} is not allowed (the tracking server ${server.uri}, or environments/artifact-origins.json origins: none)`,
        `model "${MODEL}" version ${added}: artifactUri: ${attacker.url}/model is not under run ${entry.mlflow.runId}'s artifact URI`,
      ]);
      expect(attacker.requests).toEqual([]);
      const listed = await check(moved, { origins: [attacker.url], allowLocalEntries: false });
      expect(listed.problems.map((p) => p.field)).toEqual(['artifactUri']);
      expect(messages(listed)[0]).toContain('is not under run');
    } finally {
      await attacker.close();
    }
  });

  it('a bucket of the object store is an origin like any other: refused unless listed, and still not the run', async () => {
    const inStore = tampered((e) => ({ ...e, artifactUri: 's3://attacker-bucket/model' }));
    const r = await check(inStore);
    expect(messages(r)[0]).toBe(
      `model "${MODEL}" version ${added}: artifactUri: origin s3://attacker-bucket is not allowed (the tracking server ${server.uri}, or environments/artifact-origins.json origins: none)`,
    );
    const listed = await check(inStore, { origins: ['s3://attacker-bucket'], allowLocalEntries: false });
    expect(listed.problems.map((p) => p.field)).toEqual(['artifactUri']);
    expect(messages(listed)[0]).toContain('is not under run');
  });

  it('an edited old version, a removed one and a moved pin fail, naming the field', async () => {
    const oldId = Object.keys(base.models[MODEL]?.versions ?? {})[0] as string;
    const edited = structuredClone(head);
    const old = edited.models[MODEL]?.versions[oldId] as LockedVersion;
    old.metrics.accuracy = 0.99;
    expect(messages(await check(edited))).toEqual([
      `model "${MODEL}" version ${oldId}: metrics: changed; versions are immutable: add a new version instead`,
    ]);
    const removed = structuredClone(head);
    delete removed.models[MODEL]?.versions[oldId];
    expect(messages(await check(removed))).toEqual([
      `model "${MODEL}" version ${oldId}: versions: removed; versions are never removed from the lock`,
    ]);
    const pinned = pinVersion(head, {
      model: MODEL,
      env: 'prod',
      version: added,
      at: '2026-01-01T00:00:00.000Z',
    });
    expect(messages(await check(pinned))).toEqual([
      `model "${MODEL}": pins.prod: moved from (none) to ${added}; pins move only through promote.yml (npm run promote), behind the gates and reviewers of prod`,
      `model "${MODEL}": promotions[0]: appended (prod: (none) → ${added}); promotion records are written only by promote.yml (npm run promote), never by a pull request`,
    ]);
  });

  it('regression (issue 23.2): appended promotion records that net to nothing fail with real git and npm run lock -- check-provenance', async () => {
    // The base already runs `added` in prod, after `old`: a history rollback and revert read.
    const oldId = Object.keys(base.models[MODEL]?.versions ?? {})[0] as string;
    const at = '2026-01-01T00:00:00.000Z';
    const image = `ghcr.io/acme/model-server@sha256:${'1'.repeat(64)}`;
    let trusted = pinVersion(head, { model: MODEL, env: 'prod', version: oldId, at, image });
    trusted = pinVersion(trusted, { model: MODEL, env: 'prod', version: added, at, image });
    // The PR: two records, v2 → v1 with a foreign image, then v1 → v2; the pins are unchanged.
    const evil = `evil.example/x@sha256:${'e'.repeat(64)}`;
    const forged = structuredClone(trusted);
    forged.models[MODEL]?.promotions.push(
      { env: 'prod', from: added, to: oldId, at, image: evil },
      { env: 'prod', from: oldId, to: added, at, image },
    );
    expect(forged.models[MODEL]?.pins).toEqual(trusted.models[MODEL]?.pins);
    expect(messages(await check(forged, NO_EXTRA, trusted))).toEqual([
      `model "${MODEL}": promotions[2]: appended (prod: ${added} → ${oldId}); promotion records are written only by promote.yml (npm run promote), never by a pull request`,
      `model "${MODEL}": promotions[3]: appended (prod: ${oldId} → ${added}); promotion records are written only by promote.yml (npm run promote), never by a pull request`,
    ]);
    // A model the base does not have may not bring a history either.
    const newModel = structuredClone(trusted);
    newModel.models.other = {
      pins: {},
      versions: {},
      promotions: [{ env: 'dev', from: null, to: oldId, at }],
    };
    expect((await check(newModel, NO_EXTRA, trusted)).problems.map((p) => p.field)).toEqual([
      'promotions[0]',
    ]);

    const repos = await makeTestRepos(lockFiles(trusted));
    try {
      await writeLock(join(repos.work, 'models.lock.json'), forged);
      repos.git(['add', '-A']);
      repos.git(['-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', 'commit', '-q', '-m', 'history']);
      let out = '';
      const code = await main(['check-provenance', '--base', 'main'], {
        cwd: repos.work,
        env: { MLFLOW_TRACKING_URI: server.uri },
        print: (t) => {
          out += t;
        },
      });
      expect(code).toBe(1);
      expect(out).toContain(`  - model "${MODEL}": promotions[2]: appended (prod: ${added} → ${oldId})`);
    } finally {
      await rm(repos.root, { recursive: true, force: true });
    }
  });

  it('a run that does not exist, or another registered version, fails naming mlflow.runId / mlflow.modelVersion', async () => {
    const ghost = 'f'.repeat(32);
    const r = await check(tampered((e) => ({ ...e, mlflow: { ...e.mlflow, runId: ghost } })));
    expect(messages(r)).toContain(
      `model "${MODEL}" version ${added}: mlflow.runId: run ${ghost} does not exist on the tracking server`,
    );
    const other = await check(tampered((e) => ({ ...e, mlflow: { ...e.mlflow, modelVersion: '7' } })));
    expect(messages(other)).toEqual([
      `model "${MODEL}" version ${added}: mlflow.modelVersion: registered model ${MODEL} has no version 7`,
    ]);
  });

  it('a local entry (no run) is refused unless artifact-origins.json allows local entries', async () => {
    const local = tampered((e) => ({
      ...e,
      artifactUri: 'candidate',
      mlflow: { runId: null, modelVersion: null },
    }));
    expect((await check(local)).problems.map((p) => p.field)).toEqual(['mlflow.runId', 'artifactUri']);
    const allowed = await check(local, { origins: [], allowLocalEntries: true });
    expect(allowed.problems).toEqual([]);
  });

  it('artifact-origins.json is validated: a bad origin is named, a missing file allows only the tracking server', async () => {
    const path = join(dir, 'origins.json');
    await writeFile(
      path,
      JSON.stringify({ origins: ['https://user:pw@evil.example.com/x'], allowLocalEntries: false }),
    );
    await expect(loadArtifactOrigins(path)).rejects.toThrow(/origins\/0.*must match pattern/);
    expect(await loadArtifactOrigins(join(dir, 'none.json'))).toEqual(NO_EXTRA);
    expect(
      await loadArtifactOrigins(
        fileURLToPath(new URL('../environments/artifact-origins.json', import.meta.url)),
      ),
    ).toEqual(NO_EXTRA);
  });

  it('npm run lock -- check-provenance --base main: exit 0 for the faithful entry, 1 with the field named for a tampered one', async () => {
    const repos = await makeTestRepos(lockFiles(base));
    try {
      const { commit, run } = checkout(repos);
      await commit(head, 'train: candidate');
      const good = repos.git(['rev-parse', 'HEAD']);
      // The artifact-origins file is read from --origins (default environments/artifact-origins.json: absent here).
      expect(await run([])).toEqual({
        code: 0,
        out: `ok   ${MODEL} version ${added}: matches the tracking server\n`,
      });
      await commit(
        tampered((e) => ({ ...e, metrics: { ...e.metrics, accuracy: 0.99 } })),
        'hand edit',
      );
      const bad = await run([]);
      expect(bad.code).toBe(1);
      expect(bad.out).toContain(
        `FAIL ${MODEL} version ${added}: does not match\n  - model "${MODEL}" version ${added}: metrics.accuracy: is 0.99`,
      );
      // --head names a commit: the lock is read from git as data, never from the checkout.
      expect((await run(['--head', good])).code).toBe(0);
      const missing = await main(['check-provenance', '--base', 'no-such-ref'], {
        cwd: repos.work,
        env: {},
        print: () => {},
      }).catch((e: unknown) => e);
      expect((missing as Error).message).toMatch(/^no merge base of no-such-ref and HEAD/);
    } finally {
      await rm(repos.root, { recursive: true, force: true });
    }
  });

  it('regression (issue 23.6): an added version signed by a key the BASE trusts passes; unsigned (with --require-signatures), or signed by a key the pull request trusts itself, fails', async () => {
    const team = testKey();
    const policy = (keys: TestKey[]) =>
      `${JSON.stringify({ signingPolicyVersion: 1, signers: keys.map((k, i) => ({ name: `key ${i}`, publicKey: k.publicPem })) }, null, 2)}\n`;
    const repos = await makeTestRepos({ ...lockFiles(base), [SIGNING_POLICY_PATH]: policy([team]) });
    try {
      const { commit: commitLock, run: runArgs } = checkout(repos);
      const commit = async (lock: Lock, policyText?: string) => {
        if (policyText) await writeFile(join(repos.work, SIGNING_POLICY_PATH), policyText);
        await commitLock(lock, 'train');
      };
      const run = (...args: string[]) => runArgs(args);
      const withEntry = (e: LockedVersion) => addCandidate(base, { model: MODEL, entry: e }).lock;
      // Unsigned: refused only where signatures are required (provenance.yml requires them).
      await commit(head);
      expect((await run()).code).toBe(0);
      const unsigned = await run('--require-signatures');
      expect(unsigned.code).toBe(1);
      expect(unsigned.out).toMatch(/signature: model demo version v[0-9a-f]{12}: not signed/);
      // Signed by the key the base trusts.
      await commit(withEntry(await signedEntry(entry, MODEL, team)));
      expect(await run('--require-signatures')).toEqual({
        code: 0,
        out: `ok   ${MODEL} version ${added}: matches the tracking server\n`,
      });
      // The pull request trusts a key of its own and signs with it: the base's policy decides.
      const own = testKey();
      await commit(withEntry(await signedEntry(entry, MODEL, own)), policy([team, own]));
      const forged = await run('--require-signatures');
      expect(forged.code).toBe(1);
      expect(forged.out).toMatch(
        /signature: .*signed by key [0-9a-f]{12}, which manifests\/base\/signing-policy.json at [0-9a-f]{12} does not trust/,
      );
    } finally {
      await rm(repos.root, { recursive: true, force: true });
    }
  });
});
