/**
 * The models the serving benchmarks load, trained once into
 * `.cache/bench-serving/<kind>-artifact` by scripts/train.ts (the real
 * training path, on the default backend):
 *
 *   - `demo`: training/configs/demo.json as it is;
 *   - `cifar10`: the architecture of training/configs/cifar10.json (deep-cnn
 *     32/64/128, 32x32x3 input) trained briefly on generated 32x32 colour
 *     shapes: a model of that config's size and cost (CIFAR-10 itself cannot
 *     be downloaded where this was developed; its accuracy is not the point,
 *     its inference cost is).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { versionIdOf } from '../lock/schema.ts';
import { artifactJson, openArtifactDir, preprocessingOf } from '../model/artifact/read.ts';
import { pinEnv } from '../model/pin.ts';
import { ProjectError } from '../platform/errors.ts';

const ROOT = join(import.meta.dirname, '..');
export type BenchModel = 'demo' | 'cifar10';
export const BENCH_MODELS: BenchModel[] = ['demo', 'cifar10'];

export function defaultArtifactDir(kind: BenchModel): string {
  return join(ROOT, '.cache', 'bench-serving', `${kind}-artifact`);
}

/** The SERVING_MODEL_* settings (serving/main.ts) that serve the artifact in `dir`, checked by model/artifact. */
export async function servingEnvOf(dir: string): Promise<Record<string, string>> {
  const verified = await openArtifactDir(dir);
  const training = artifactJson(verified, 'training.json') as { name?: string };
  // model/pin.ts names the variables, as the pin writes them.
  return pinEnv(training.name ?? 'model', versionIdOf(verified.sha256), {
    artifactUri: dir,
    digests: verified.digests,
    rootDigest: verified.sha256,
  });
}

/** The input side of a model's image, for the request body (the artifact read and checked by model/artifact). */
export async function inputSizeOf(artifact: string): Promise<{ width: number; channels: number }> {
  return preprocessingOf(await openArtifactDir(artifact));
}

async function configFor(kind: BenchModel, work: string): Promise<string> {
  if (kind === 'demo') return join(ROOT, 'training/configs/demo.json');
  const cifar = JSON.parse(await readFile(join(ROOT, 'training/configs/cifar10.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const config = {
    ...cifar,
    name: 'cifar10-size-classifier',
    data: {
      kind: 'generated',
      path: join(work, 'cifar10-size-data'),
      perClass: 60,
      size: 32,
      channels: 3,
      split: { validation: 0.15, test: 0.15 },
    },
    training: { ...(cifar.training as object), epochs: 2, warmupEpochs: 0 },
  };
  const path = join(work, 'cifar10-size.json');
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

/** Train the model into `dir` unless it is there. */
export async function ensureBenchArtifact(kind: BenchModel, dir: string): Promise<void> {
  if (existsSync(join(dir, 'digests.json'))) return;
  const work = resolve(dir, '..');
  await mkdir(work, { recursive: true });
  const config = await configFor(kind, work);
  console.log(`training the ${kind} model into ${dir} (once; pass --artifact to reuse one)...`);
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules/.bin/tsx'),
      join(ROOT, 'scripts/train.ts'),
      '--config',
      config,
      '--out',
      dir,
      '--force',
      '--no-progress',
    ],
    { cwd: work, stdio: 'inherit' },
  );
  const code = await new Promise<number | null>((r) => proc.on('exit', r));
  if (code !== 0) {
    throw new ProjectError('UNAVAILABLE', `training the ${kind} model into ${dir} failed (exit ${code})`, {
      hint: 'train it yourself and pass --artifact <dir>',
    });
  }
}
