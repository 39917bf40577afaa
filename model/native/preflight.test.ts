/**
 * The GPU preflight against fake machines: a temp folder stands for `/`
 * (driver version file, libcuda.so.1), for the cache (libtensorflow + CUDA
 * libraries as 71-tfjs-native-gpu.sh lays them out) and for the project
 * (node_modules/@tensorflow/tfjs-node-gpu). No GPU needed.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ProjectError } from '../../platform/errors.ts';
import { MANIFEST_FORMAT, type NativeManifest, TENSORFLOW_VERSION } from './layout.ts';
import {
  assertGpuReady,
  compareVersions,
  formatPreflight,
  gpuPreflight,
  parseDriverVersion,
} from './preflight.ts';
import { cudaFilesFor, cudaPinsFromMetadata } from './wheel.ts';

const PINS = cudaPinsFromMetadata(
  [
    'nvidia-cublas-cu12>=12.5.3.2',
    'nvidia-cuda-runtime-cu12>=12.5.82',
    'nvidia-cudnn-cu12>=9.3.0.75',
    'nvidia-cufft-cu12>=11.2.3.61',
    'nvidia-cusolver-cu12>=11.6.3.83',
    'nvidia-cusparse-cu12>=12.5.1.3',
    'nvidia-nvjitlink-cu12>=12.5.82',
    'nvidia-nccl-cu12>=2.27.7',
  ]
    .map((r) => `Requires-Dist: ${r}; extra == "and-cuda"`)
    .join('\n'),
);
const DRIVER_550 =
  'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n';

let tmp: string;
let fsRoot: string;
let cache: string;
let project: string;
let libDir: string;

const touch = async (path: string) => {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '');
};

/** A complete machine: driver, libcuda, libtensorflow GPU + CUDA libraries, the addon linked. */
async function fullMachine(opts: { driver?: string; skip?: string[] } = {}) {
  await touch(join(fsRoot, 'proc/driver/nvidia/version'));
  await writeFile(join(fsRoot, 'proc/driver/nvidia/version'), opts.driver ?? DRIVER_550);
  await touch(join(fsRoot, 'usr/lib/x86_64-linux-gnu/libcuda.so.1'));
  const manifest: NativeManifest = {
    format: MANIFEST_FORMAT,
    variant: 'gpu',
    tensorflow: { package: 'tensorflow', version: TENSORFLOW_VERSION, wheel: 'tf.whl', sha256: 'x' },
    cuda: PINS.map((p) => ({ package: p.name, version: p.version, wheel: `${p.name}.whl`, sha256: 'x' })),
    dir: libDir,
  };
  await touch(join(libDir, 'manifest.json'));
  await writeFile(join(libDir, 'manifest.json'), JSON.stringify(manifest));
  const files = [
    'tensorflow/libtensorflow_cc.so.2',
    'tensorflow/libtensorflow_framework.so.2',
    ...cudaFilesFor(PINS).flatMap((c) => c.files),
  ];
  for (const f of files) if (!opts.skip?.includes(f)) await touch(join(libDir, f));
  const pkg = join(project, 'node_modules/@tensorflow/tfjs-node-gpu');
  await touch(join(pkg, 'package.json'));
  await writeFile(join(pkg, 'package.json'), '{"name":"@tensorflow/tfjs-node-gpu","version":"4.22.0"}');
  if (!opts.skip?.includes('addon')) await touch(join(pkg, 'lib/napi-v8/tfjs_binding.node'));
  await mkdir(join(pkg, 'deps'), { recursive: true });
  await symlink(join(libDir, 'tensorflow'), join(pkg, 'deps/lib'));
}

const check = () => gpuPreflight({ env: { GITOPS_ML_CACHE: cache }, projectRoot: project, fsRoot });

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'gpu-preflight-'));
  fsRoot = join(tmp, 'root');
  cache = join(tmp, 'cache');
  project = join(tmp, 'project');
  libDir = join(cache, `libtensorflow-gpu-${TENSORFLOW_VERSION}`);
  await mkdir(project, { recursive: true });
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('gpuPreflight', () => {
  it('is ready on a machine with the driver, libcuda and the set-up done', async () => {
    await fullMachine();
    const r = await check();
    expect(r.rows.filter((row) => !row.ok)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.fixes).toEqual([]);
    expect(r.rows.find((row) => row.check === 'cuDNN')).toEqual({
      check: 'cuDNN',
      found: '9.3.0.75',
      needed: '9.3.0.75 (nvidia-cudnn-cu12)',
      ok: true,
    });
    expect(formatPreflight(r).split('\n')[0]).toBe('GPU preflight: ready');
  });

  it('on a bare machine says what is missing and what to install, driver first', async () => {
    const r = await check();
    expect(r.ok).toBe(false);
    const text = formatPreflight(r);
    expect(text).toContain('GPU preflight: NOT ready');
    expect(text).toMatch(
      /NO {2}NVIDIA driver +none \(.*proc\/driver\/nvidia\/version absent\) +>= 525\.60\.13 \(CUDA 12\)/,
    );
    expect(text).toMatch(/NO {2}libcuda\.so\.1 \(driver library\) +not found/);
    expect(text).toMatch(
      /NO {2}TensorFlow \(GPU build\) +none in .*libtensorflow-gpu-2\.21\.0 +tensorflow 2\.21\.0/,
    );
    expect(text).toMatch(/NO {2}@tensorflow\/tfjs-node-gpu addon +package not installed/);
    expect(r.fixes[0]).toMatch(/^install the NVIDIA driver 525\.60\.13 or newer/);
    expect(r.fixes).toContain(
      'run `bash scripts/setup.d/71-tfjs-native-gpu.sh` (downloads tensorflow==2.21.0 and its CUDA 12 / cuDNN wheels from PyPI, about 2.5 GB once; behind a mirror set PIP_INDEX_URL)',
    );
  });

  it('names a driver too old for CUDA 12, found against needed', async () => {
    await fullMachine({
      driver: 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.239.06  Wed Jan 10 2024\n',
    });
    const r = await check();
    expect(r.rows.filter((row) => !row.ok)).toEqual([
      { check: 'NVIDIA driver', found: '470.239.06', needed: '>= 525.60.13 (CUDA 12)', ok: false },
    ]);
    expect(r.fixes).toHaveLength(1);
  });

  it('names a missing cuDNN library and the step that brings it', async () => {
    await fullMachine({ skip: ['nvidia/cudnn/lib/libcudnn.so.9'] });
    const r = await check();
    expect(r.rows.filter((row) => !row.ok)).toEqual([
      {
        check: 'cuDNN',
        found: 'missing nvidia/cudnn/lib/libcudnn.so.9',
        needed: '9.3.0.75 (nvidia-cudnn-cu12)',
        ok: false,
      },
    ]);
    expect(r.fixes).toEqual([expect.stringContaining('71-tfjs-native-gpu.sh')]);
  });

  it('finds libcuda.so.1 through LD_LIBRARY_PATH, and says when a loaded driver lacks it', async () => {
    await fullMachine();
    await rm(join(fsRoot, 'usr/lib/x86_64-linux-gnu/libcuda.so.1'));
    const r = await check();
    expect(r.fixes).toEqual([
      expect.stringMatching(/^the driver is loaded but libcuda\.so\.1 is not visible/),
    ]);
    await touch(join(fsRoot, 'opt/nvidia/lib/libcuda.so.1'));
    const again = await gpuPreflight({
      env: { GITOPS_ML_CACHE: cache, LD_LIBRARY_PATH: '/opt/nvidia/lib' },
      projectRoot: project,
      fsRoot,
    });
    expect(again.ok).toBe(true);
  });

  it('wants the addon compiled', async () => {
    await fullMachine({ skip: ['addon'] });
    const r = await check();
    expect(r.rows.filter((row) => !row.ok).map((row) => [row.check, row.found])).toEqual([
      ['@tensorflow/tfjs-node-gpu addon', 'not compiled'],
    ]);
  });
});

describe('assertGpuReady', () => {
  it('throws the whole report instead of letting training fall back to the CPU', async () => {
    const err = (await assertGpuReady({
      env: { GITOPS_ML_CACHE: cache },
      projectRoot: project,
      fsRoot,
    }).catch((e: unknown) => e)) as ProjectError;
    expect(err).toBeInstanceOf(ProjectError);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(
      /^TRAINING_BACKEND=tensorflow-gpu, but this machine cannot train on the GPU; not falling back to the CPU\.\nGPU preflight: NOT ready\n/,
    );
    expect(err.message).toContain('What to do:');
  });
});

describe('parsing', () => {
  it('reads the driver version from /proc/driver/nvidia/version and compares dotted versions', () => {
    expect(parseDriverVersion(DRIVER_550)).toBe('550.54.15');
    expect(
      parseDriverVersion('NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release Build'),
    ).toBe('560.35.03');
    expect(parseDriverVersion('garbage')).toBeUndefined();
    expect(compareVersions('525.60.13', '525.60.13')).toBe(0);
    expect(compareVersions('525.105.17', '525.60.13')).toBeGreaterThan(0);
    expect(compareVersions('470.239.06', '525.60.13')).toBeLessThan(0);
  });
});
