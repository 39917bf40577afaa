/**
 * CIFAR-10 for real, small: a slice of the real archive that
 * data/cifar10.json names (20 training and 10 test images of each class),
 * fetched through the user's data mirrors (docs/data.md#mirrors-and-local-copies),
 * checked against the pointer's sha256 and digest, and trained for one epoch
 * through `train()` with training/configs/cifar10.json: the path
 * `npm run train` takes, on the native backend. The full run is a benchmark
 * (npm run bench:cifar10), never a test.
 *
 * Without a mirror or local copy of the archive the test is skipped, naming
 * what to configure; under CI=true that is a failure.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect } from '@jest/globals';
import { nativeManifestOf } from '../model/backend.ts';
import { readJsonFile } from '../platform/index.ts';
import { tempDir } from '../testing/lock/fixtures.ts';
import { NATIVE_SETUP } from '../testing/native.ts';
import { needs, requirement } from '../testing/services.ts';
import { loadTrainingConfig } from './config.ts';
import {
  configuredMirror,
  type DataPointer,
  defaultMirrorsFile,
  MIRRORS_DOC,
  MIRRORS_ENV,
  userDataMirrors,
} from './data/index.ts';
import { type RunContext, type TrainingRecord, train } from './train.ts';

const ROOT = join(import.meta.dirname, '..');
const POINTER = 'data/cifar10.json';
const pointer = JSON.parse(readFileSync(join(ROOT, POINTER), 'utf8')) as DataPointer;

const { it } = needs(
  requirement(
    `a mirror or local copy of the CIFAR-10 archive of ${POINTER} (${pointer.uri})`,
    configuredMirror(pointer.uri, `sha256:${pointer.sha256}`, userDataMirrors()),
    `configure one, e.g. ${MIRRORS_ENV}="sha256:${pointer.sha256}=/path/to/cifar10-jpeg.tar.gz" or the same rule in ${defaultMirrorsFile()} (${MIRRORS_DOC})`,
  ),
  requirement(
    'the native backend',
    nativeManifestOf('@tensorflow/tfjs-node') !== undefined ? '@tensorflow/tfjs-node' : undefined,
    `run ${NATIVE_SETUP}`,
  ),
);

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('trains a slice of the real archive through train(), on the native backend, and evaluates on its test/ images', async () => {
  dir = await tempDir('cifar10-archive-');
  const config = await loadTrainingConfig(join(ROOT, 'training', 'configs', 'cifar10.json'));
  expect(config.data.pointer).toBe(POINTER);
  expect(config.data.split.test).toBe('folder');
  config.data.maxPerClass = { train: 20, test: 10 };
  config.data.split.validation = 0.1; // 2 of each class's 20
  config.training.epochs = 1;
  config.training.batchSize = 64;
  let seen: RunContext | undefined;
  const result = await train(config, {
    outDir: join(dir, 'artifact'),
    dataPath: join(dir, 'data'),
    progress: false,
    log: () => {},
    beforeLoop: (run) => {
      seen = run;
    },
  });
  const run = seen as RunContext;
  expect(result.backend.id).toBe('tensorflow');
  // The archive is the pointer's: every file hashed and checked against its digest.
  expect(run.dataset.digest.whole).toBe(pointer.digest);
  expect(run.dataset.labels).toEqual([
    'airplane',
    'automobile',
    'bird',
    'cat',
    'deer',
    'dog',
    'frog',
    'horse',
    'ship',
    'truck',
  ]);
  // Trained on train/ only, evaluated on 100 images of test/.
  expect(run.split.test.map((x) => x.id.split('/')[0])).toEqual(new Array(100).fill('test'));
  expect([...run.split.train, ...run.split.validation].every((x) => x.id.startsWith('train/'))).toBe(true);
  expect(result.split.counts).toEqual({ train: 180, validation: 20, test: 100 });
  expect(result.metrics.split).toBe('test');
  expect(result.metrics.samples).toBe(100);
  expect(result.metrics.labels).toEqual(run.dataset.labels);
  expect(result.epochsRun).toBe(1);
  expect(Number.isFinite(result.history[0]?.loss)).toBe(true);
  // The dataset digest recorded is the pointer's with the selection folded in, named as such.
  const record = (await readJsonFile(join(dir, 'artifact', 'training.json'))) as TrainingRecord;
  expect(record.datasetDigest).toBe(result.datasetDigest);
  expect(record.datasetDigest).toBe(run.dataset.digest.root);
  expect(record.datasetDigest).not.toBe(pointer.digest);
  expect(record.dataset).toMatchObject({
    name: 'cifar10',
    pointer: POINTER,
    uri: pointer.uri,
    wholeDigest: pointer.digest,
    selection: { maxPerClassTrain: 20, maxPerClassTest: 10 },
  });
  expect(record.backend.id).toBe('tensorflow');
});
