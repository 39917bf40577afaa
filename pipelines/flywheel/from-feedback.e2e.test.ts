/**
 * The data flywheel on real components: a SeaweedFS server
 * (testing/object-store.ts); a real model server (testing/serving/harness.ts)
 * with the store configured captures the images of /predict and records the
 * labels of /feedback in their real formats; `npm run data -- from-feedback`
 * builds the next dataset from the pinned one (an s3:// pointer packed by
 * `npm run data -- pack`) plus those labels. Then `npm run retrain --
 * --data-from-feedback` against real git repositories, the fake GitHub API
 * (testing/fake-github.ts) and a real MLflow (testing/mlflow.ts): the retrain
 * PR changes the data pointer, compares the candidate with the version in
 * prod on the golden set the config pins (champion vs challenger, prod's
 * promotion gates), and the candidate's MLflow run and lock entry name the
 * new dataset.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import {
  addCandidate,
  emptyLock,
  entryFromArtifact,
  lockFiles,
  pinVersion,
  readLockFrom,
  versionIdOf,
  versionsOldestFirst,
} from '../../lock/index.ts';
import { encodePng } from '../../model/images.ts';
import { gitRunner, treeSource } from '../../platform/git/index.ts';
import { MlflowClient } from '../../platform/mlflow/index.ts';
import { main as dataMain } from '../../scripts/data.ts';
import { main as retrainMain } from '../../scripts/retrain.ts';
import { capturedImageKey } from '../../serving/capture.ts';
import { startFakeGithub } from '../../testing/fake-github.ts';
import { makeTestRepos } from '../../testing/git-repos.ts';
import { tempDir } from '../../testing/lock/fixtures.ts';
import { mlflowInstalled, startMlflow } from '../../testing/mlflow.ts';
import {
  type ObjectStoreServer,
  objectStoreInstalled,
  startObjectStore,
} from '../../testing/object-store.ts';
import { needs } from '../../testing/services.ts';
import { drawShape } from '../../testing/serving/fixture.ts';
import { startTestServer, tempFixture } from '../../testing/serving/harness.ts';
import { tinyTrainingConfig } from '../../testing/training/tiny-config.ts';
import type { TrainingConfig } from '../../training/config.ts';
import {
  type DataPointer,
  generateDemoDataset,
  loadDataSource,
  readDataPointer,
  SHAPES,
} from '../../training/data/index.ts';
import { trainAndRecord } from '../training/index.ts';
import { PROVENANCE_FILE } from './index.ts';

const { describe, it } = needs(objectStoreInstalled());

const BUCKET = 'gitops-ml';
const BASE_URI = `s3://${BUCKET}/datasets/shapes/v1.tar.gz`;
type Shape = (typeof SHAPES)[number];

let dir: string;
let store: ObjectStoreServer;
let basePath: string;
let base: DataPointer;
/** The labelled answers: which image (its sha256), which label, the answering version. */
const labelled: { sha: string; label: string }[] = [];
let version: string;
let notCapturedSha: string;
let inBaseSha: string;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** An 8x8 grayscale PNG of `shape`, one pixel changed by `variant` (distinct bytes per variant). */
function png(shape: Shape, variant: number): Uint8Array {
  const data = drawShape(shape, 8);
  data[variant] = (data[variant] as number) ^ 0x40;
  return encodePng({ width: 8, height: 8, channels: 1, data });
}

/** A base dataset with its own test set: train/<class>/ and test/<class>/, as CIFAR-10 as images. */
async function baseFolder(root: string, classes: readonly Shape[] = SHAPES): Promise<string> {
  for (const [part, seed] of [
    ['train', 11],
    ['test', 12],
  ] as const) {
    const gen = await generateDemoDataset(join(dir, `gen-${part}`), { seed, perClass: 6, size: 8 });
    for (const c of classes) {
      await mkdir(join(root, part, c), { recursive: true });
      for (const f of await readdir(join(gen.root, c))) {
        await writeFile(join(root, part, c, f), await readFile(join(gen.root, c, f)));
      }
    }
  }
  return root;
}

async function data(argv: string[], env: Record<string, string> = store.env) {
  const out: string[] = [];
  const code = await dataMain(argv, { env, cwd: dir, print: (t) => out.push(t) });
  return { code, out: out.join('') };
}

beforeAll(async () => {
  // Nothing to start: every test below is behind needs(), which fails it under CI=true and skips it
  // visibly elsewhere, naming the set-up step.
  if (!objectStoreInstalled().found) return;
  dir = await tempDir('flywheel-e2e-');
  store = await startObjectStore({ buckets: [BUCKET] });
  const folder = await baseFolder(join(dir, 'base'));
  basePath = join(dir, 'repo', 'data', 'shapes.json');
  const packed = await data([
    'pack',
    folder,
    '--uri',
    BASE_URI,
    '--archive',
    join(dir, 'v1.tar.gz'),
    '--name',
    'shapes',
    '--pointer',
    basePath,
  ]);
  expect(packed.code).toBe(0);
  base = await readDataPointer(basePath);

  // A real server with the store: /predict captures the image, /feedback records the label.
  const fixture = await tempFixture();
  const server = await startTestServer(fixture, {
    ...store.env,
    SERVING_CAPTURE_SAMPLE: '1.0',
    SERVING_CAPTURE_FLUSH_MS: '100',
    SERVING_ID_KEY: 'k'.repeat(40),
  });
  version = server.config.model.version;
  const inBase = await readFile(
    join(folder, 'train', 'circle', (await readdir(join(folder, 'train', 'circle')))[0]!),
  );
  inBaseSha = sha256(inBase);
  const images: [Uint8Array, string][] = [
    [png('circle', 1), 'circle'], // A: the same image labelled twice, the same label
    [png('circle', 1), 'circle'],
    [png('square', 2), 'square'], // B: a conflict, 2 square to 1 cross: square
    [png('square', 2), 'square'],
    [png('square', 2), 'cross'],
    [png('triangle', 3), 'triangle'], // C: a tie: skipped
    [png('triangle', 3), 'cross'],
    [inBase, 'circle'], // D: already in the base data: skipped
    [png('cross', 4), 'cross'], // E: once
    [png('square', 5), 'square'], // F: its captured copy is gone: skipped
  ];
  try {
    for (const [bytes, label] of images) {
      const res = await fetch(`${server.url}/predict`, {
        method: 'POST',
        body: Buffer.from(bytes),
        headers: { 'content-type': 'image/png' },
      });
      expect(res.status).toBe(200);
      const { feedback_id } = (await res.json()) as { feedback_id: string };
      const fb = await fetch(`${server.url}/feedback`, {
        method: 'POST',
        body: JSON.stringify({ feedback_id, label }),
        headers: { 'content-type': 'application/json' },
      });
      expect([fb.status, await fb.text()]).toEqual([200, expect.any(String)]);
      labelled.push({ sha: sha256(bytes), label });
    }
  } finally {
    await server.close(); // writes the capture queue
    await fixture.cleanup();
  }
  notCapturedSha = sha256(png('square', 5));
  await store.client.delete({ bucket: BUCKET, key: capturedImageKey(notCapturedSha) });
}, 300_000);

afterAll(async () => {
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every file of a folder (relative path -> sha256), hidden ones left out. */
async function filesOf(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith('.')) continue;
    const path = join(e.parentPath, e.name);
    out[path.slice(root.length + 1)] = sha256(await readFile(path));
  }
  return out;
}

describe('npm run data -- from-feedback', () => {
  it('builds the next dataset: labelled captures into train/ only, deduplicated, in the store, with a new pointer and the provenance', async () => {
    const out = join(dir, 'repo', 'data', 'shapes-next.json');
    const r = await data(['from-feedback', basePath, '--out-pointer', out, '--model', 'demo-classifier']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `labels 10 for 6 image(s) in s3://${BUCKET}/feedback/v1/model=demo-classifier/; added 3 (circle 1, cross 1, square 1); duplicates 4; conflicts 2 (1 decided by the most frequent label, 1 ties skipped); skipped 2 (1 already in the data, 1 without a captured image, 0 not PNG or JPEG)`,
    );
    const next = await readDataPointer(out);
    expect(next.name).toBe('shapes');
    expect(next.uri).toBe(`s3://${BUCKET}/datasets/shapes/${next.sha256}.tar.gz`);
    expect(next.digest).not.toBe(base.digest);
    expect(sha256(await store.client.getBytes(next.uri))).toBe(next.sha256);
    expect(r.out).toContain(
      `wrote ${out}: dataset shapes, ${next.uri} (sha256 ${next.sha256}), digest ${next.digest} (was ${base.digest})`,
    );
    // The base pointer is where it was.
    expect(await readDataPointer(basePath)).toEqual(base);

    // Fetched as training fetches it: the digests hold, test/ is the base's, train/ has the 3 images more.
    const got = join(dir, 'got-next');
    expect((await data(['fetch', out, '--into', got])).code).toBe(0);
    const was = join(dir, 'got-base');
    expect((await data(['fetch', basePath, '--into', was])).code).toBe(0);
    const [after, before] = [await filesOf(got), await filesOf(was)];
    const only = (f: Record<string, string>, p: string) =>
      Object.fromEntries(Object.entries(f).filter(([k]) => k.startsWith(p)));
    expect(only(after, 'test/')).toEqual(only(before, 'test/'));
    const sha = (shape: Shape, v: number) => sha256(png(shape, v));
    expect(only(after, 'train/')).toEqual({
      ...only(before, 'train/'),
      [`train/circle/fb-${sha('circle', 1)}.png`]: sha('circle', 1),
      [`train/square/fb-${sha('square', 2)}.png`]: sha('square', 2),
      [`train/cross/fb-${sha('cross', 4)}.png`]: sha('cross', 4),
    });

    // The provenance: each added image, its labels' keys, the version that answered, the times.
    const manifest = JSON.parse(await readFile(join(got, PROVENANCE_FILE), 'utf8'));
    expect(manifest.schema).toBe('flywheel-provenance/v1');
    expect(manifest.rounds).toHaveLength(1);
    const round = manifest.rounds[0];
    expect(round.base).toEqual({ name: 'shapes', uri: BASE_URI, sha256: base.sha256, digest: base.digest });
    expect(round.added.map((a: { path: string }) => a.path)).toEqual([
      `train/circle/fb-${sha('circle', 1)}.png`,
      `train/cross/fb-${sha('cross', 4)}.png`,
      `train/square/fb-${sha('square', 2)}.png`,
    ]);
    const square = round.added[2];
    expect(square.votes).toEqual({ square: 2, cross: 1 });
    expect(square.labels).toHaveLength(3);
    for (const l of square.labels) {
      expect(l.key).toMatch(
        new RegExp(
          `^feedback/v1/model=demo-classifier/version=${version}/date=\\d{4}-\\d{2}-\\d{2}/[^/]+-0\\.json$`,
        ),
      );
      expect(await store.client.head({ bucket: BUCKET, key: l.key })).toBeDefined();
      expect(l.version).toBe(version);
      expect(Date.parse(l.labelled_at)).toBeGreaterThanOrEqual(Date.parse(l.answered_at));
    }
    expect(labelled.filter((l) => l.sha === sha('square', 2))).toHaveLength(3);

    // Deterministic: the same base, labels and flags give the same archive, already in the store.
    const again = join(dir, 'repo', 'data', 'shapes-again.json');
    const r2 = await data(['from-feedback', basePath, '--out-pointer', again, '--model', 'demo-classifier']);
    expect(r2.out).toContain(`archive already in the store ${next.uri}`);
    expect(await readDataPointer(again)).toEqual(next);

    // From the new data, nothing is new: every labelled image is in it, the pointer stays.
    const before2 = await readFile(out, 'utf8');
    const r3 = await data(['from-feedback', out]);
    expect(r3.code).toBe(0);
    expect(r3.out).toContain(
      'added 0; duplicates 4; conflicts 2 (1 decided by the most frequent label, 1 ties skipped); skipped 5 (4 already in the data, 1 without a captured image',
    );
    expect(r3.out).toContain(`nothing new to add: ${out} unchanged`);
    expect(await readFile(out, 'utf8')).toBe(before2);
    expect(inBaseSha).toMatch(/^[0-9a-f]{64}$/);
    expect(notCapturedSha).toMatch(/^[0-9a-f]{64}$/);
  }, 300_000);

  it('says what is wrong, and a failure leaves the pointer as it was', async () => {
    const before = await readFile(basePath, 'utf8');
    await expect(data(['from-feedback', basePath], {})).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(
        'from-feedback reads labels and captured images from the object store, and none is configured',
      ),
    });
    await expect(data(['from-feedback', basePath, '--since', '2999-01-01'])).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(
        `no labels in s3://${BUCKET}/feedback/v1/ recorded since 2999-01-01T00:00:00.000Z: no new dataset`,
      ),
    });
    await expect(data(['from-feedback', basePath, '--model', 'another-model'])).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(
        `no labels in s3://${BUCKET}/feedback/v1/model=another-model/ for model another-model`,
      ),
    });
    await expect(data(['from-feedback', basePath, '--since', 'yesterday'])).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('--since "yesterday" is not a date'),
    });
    expect(await readFile(basePath, 'utf8')).toBe(before);

    // Data without "triangle": the labels that say triangle are refused, naming one, and nothing changes.
    await baseFolder(join(dir, 'three'), ['circle', 'cross', 'square']);
    const three = join(dir, 'repo', 'data', 'three.json');
    const packed = await data([
      'pack',
      join(dir, 'three'),
      '--uri',
      `s3://${BUCKET}/datasets/three/v1.tar.gz`,
      '--archive',
      join(dir, 'three.tar.gz'),
      '--name',
      'three',
      '--pointer',
      three,
    ]);
    expect(packed.code).toBe(0);
    const threeBefore = await readFile(three, 'utf8');
    const listed: string[] = [];
    for await (const o of store.client.list(`s3://${BUCKET}/datasets/three/`)) listed.push(o.key);
    await expect(data(['from-feedback', three])).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringMatching(
        new RegExp(
          `^1 label\\(s\\) name a class the data of .*three\\.json does not have: "triangle" \\(first: s3://${BUCKET}/feedback/v1/model=demo-classifier/version=[^ ]+\\.json\\); its classes are circle, cross, square`,
        ),
      ),
    });
    expect(await readFile(three, 'utf8')).toBe(threeBefore);
    const after: string[] = [];
    for await (const o of store.client.list(`s3://${BUCKET}/datasets/three/`)) after.push(o.key);
    expect(after).toEqual(listed);
  }, 300_000);
});

describe('npm run retrain -- --data-from-feedback', () => {
  const withMlflow = needs(objectStoreInstalled(), mlflowInstalled());
  withMlflow.it(
    'trains on the next dataset: the PR changes data/shapes.json, compares with prod on the golden set, the run and the lock entry name its digest',
    async () => {
      const MODEL = 'demo-classifier';
      const TOKEN = 'ghs_flywheeltoken';
      const mlflow = await startMlflow({ objectStore: store });
      const gh = await startFakeGithub({ token: TOKEN, owner: 'acme', repo: 'models', firstNumber: 7 });
      const repos = await makeTestRepos({});
      try {
        // The config trains on the pointer in the repository; its test/ is the evaluation set.
        // The golden set both sides are scored on (champion vs challenger), pinned by its digest.
        const goldenSettings = { seed: 7001, perClass: 10, size: 8, channels: 1 as const };
        const probe = await loadDataSource({
          kind: 'generated',
          path: join(dir, 'golden-probe'),
          ...goldenSettings,
        });
        const config = (root: string): TrainingConfig => {
          const c = tinyTrainingConfig({ name: MODEL, dataPath: join(root, 'data', 'shapes') });
          return {
            ...c,
            golden: {
              name: 'flywheel-golden',
              digest: probe.digest.root,
              kind: 'generated',
              path: join(root, 'data', 'golden'),
              ...goldenSettings,
            },
            data: {
              kind: 'image-folder',
              path: c.data.path,
              pointer: join(root, 'data', 'shapes.json'),
              split: { validation: 0.2, test: 'folder' },
            },
          } as TrainingConfig;
        };
        // prod: trained on the base data.
        const prodRoot = join(dir, 'prod');
        await mkdir(join(prodRoot, 'data'), { recursive: true });
        await writeFile(join(prodRoot, 'data', 'shapes.json'), await readFile(basePath));
        const prod = await trainAndRecord({
          config: config(prodRoot),
          env: store.env,
          cwd: prodRoot,
          outDir: join(prodRoot, 'artifact'),
          progress: false,
          log: () => {},
        });
        const prodEntry = await entryFromArtifact(prod.train.artifactDir, {
          uri: 'artifacts/prod-v1',
          runId: null,
          modelVersion: null,
          trackingUri: null,
          gitCommit: null,
        });
        expect(prodEntry.datasetDigest).toBe(base.digest);
        const prodVersion = versionIdOf(prodEntry.rootDigest);
        const lock = pinVersion(addCandidate(emptyLock(), { model: MODEL, entry: prodEntry }).lock, {
          model: MODEL,
          env: 'prod',
          version: prodVersion,
          at: '2026-01-01T00:00:00.000Z',
        });
        const gates = {
          gatesVersion: 1,
          environments: {
            prod: {
              source: 'staging',
              gates: {
                maxMetricDrop: [{ metric: 'accuracy', vs: 'prod', margin: 1 }],
                // Champion vs challenger on the golden set (a tiny model: the margin lets it through).
                pairedNonInferiority: [{ vs: 'prod', margin: 1, alpha: 0.05 }],
              },
            },
          },
        };
        // The repository: the lock, the gates, the pinned pointer.
        for (const [path, text] of Object.entries({
          ...lockFiles(lock),
          'environments/promotion-gates.json': `${JSON.stringify(gates, null, 2)}\n`,
          'data/shapes.json': await readFile(basePath, 'utf8'),
        })) {
          await mkdir(join(repos.work, path, '..'), { recursive: true });
          await writeFile(join(repos.work, path), text);
        }
        // prod's artifact where its lock entry points (golden.json: its predictions on the golden set).
        await cp(prod.train.artifactDir, join(repos.work, 'artifacts', 'prod-v1'), { recursive: true });
        repos.git(['checkout', '-q', 'main']);
        repos.git(['add', '-A']);
        repos.git(['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'pin prod, data']);
        repos.git(['push', '-q', 'origin', 'main']);
        const configPath = join(dir, 'retrain-config.json');
        await writeFile(configPath, JSON.stringify(config(repos.work)));

        const lines: string[] = [];
        const code = await retrainMain(['--config', configPath, '--base', 'main', '--data-from-feedback'], {
          env: {
            ...repos.env,
            ...store.env,
            MLFLOW_TRACKING_URI: mlflow.uri,
            GITHUB_ACTIONS: 'true',
            GITHUB_EVENT_NAME: 'schedule',
            GITHUB_REPOSITORY: 'acme/models',
            GITHUB_TOKEN: TOKEN,
            GITHUB_API_URL: gh.url,
            GITHUB_SERVER_URL: 'https://github.com',
            GITHUB_RUN_ID: '99',
          },
          cwd: repos.work,
          now: () => new Date('2026-03-04T05:17:00.000Z'),
          print: (l) => lines.push(l),
          log: (l) => lines.push(l),
        });
        const out = lines.join('\n');
        expect([code, out]).toEqual([0, expect.stringContaining('pull request #7')]);

        // The PR's branch changes the pointer (and adds the candidate), nothing else.
        const branch = gh.pulls[0]!.head.ref;
        expect(branch).toMatch(/^retrain\/20260304-[0-9a-f]{7}$/);
        const changed = repos.git(['diff', '--name-only', 'main', branch], repos.origin).split('\n');
        expect(changed).toContain('data/shapes.json');
        expect(
          changed.filter((f) => f !== 'data/shapes.json').every((f) => f.startsWith('models.lock')),
        ).toBe(true);
        const next = JSON.parse(repos.show(branch, 'data/shapes.json')) as DataPointer;
        expect(next.digest).not.toBe(base.digest);
        expect(next.uri).toBe(`s3://${BUCKET}/datasets/shapes/${next.sha256}.tar.gz`);
        expect(sha256(await store.client.getBytes(next.uri))).toBe(next.sha256);
        // Champion (prod) and challenger scored on the same golden set, in the PR.
        expect(gh.pulls[0]!.body).toMatch(
          /\| pairedNonInferiority vs prod \| golden-set accuracy .* \| pass \|/,
        );
        expect(gh.pulls[0]!.body).toContain('flywheel-golden');
        expect(gh.pulls[0]!.body).toContain(
          `**Data**: \`data/shapes.json\` now names ${next.uri}, dataset digest ${next.digest} (was ${base.digest}): labels 10 for 6 image(s)`,
        );

        // The candidate trained on it: its lock entry and its MLflow run name the new dataset.
        const locked = await readLockFrom(
          treeSource(gitRunner(repos.origin, { env: repos.env }), branch),
          'models.lock.json',
        );
        const [, cand] = versionsOldestFirst(locked.models[MODEL]!);
        const entry = locked.models[MODEL]!.versions[cand!]!;
        expect(entry.datasetDigest).toBe(next.digest);
        const run = await new MlflowClient({ baseUrl: mlflow.uri }).getRun(entry.mlflow.runId!);
        const input = run.inputs?.dataset_inputs?.[0]?.dataset;
        expect(input?.name).toBe('shapes');
        expect(input?.digest).toBe(next.digest.replace('sha256:', '').slice(0, 32));
        expect([input?.source_type, JSON.parse(input?.source ?? '{}')]).toEqual(['s3', { uri: next.uri }]);
        expect(JSON.parse(input?.profile ?? '{}').digest).toBe(next.digest);
        // main's pointer is the base's until the PR merges.
        expect(JSON.parse(repos.show('main', 'data/shapes.json'))).toEqual(base);
      } finally {
        await gh.close();
        await mlflow.close();
        await rm(repos.root, { recursive: true, force: true });
      }
    },
    600_000,
  );
});
