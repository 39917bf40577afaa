/**
 * Step 4 of the native set-up: how the addon and libtensorflow land in the
 * npm package. Linked to the cache on a developer machine; vendored (copied
 * in, with a relative link) for container images, whose later stages copy
 * node_modules and not the build's cache. And steps 1 and 3 reuse the cached
 * libtensorflow folder and addon only while they have the sha256 recorded
 * when they were made.
 */
import {
  appendFile,
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  addonCacheFile,
  libtensorflowDir,
  MANIFEST_FORMAT,
  type NativeManifest,
  packagePaths,
  TENSORFLOW_VERSION,
} from '../../model/native/layout.ts';
import {
  addonIntact,
  ensureAddon,
  ensureLibtensorflow,
  placeIntoPackage,
  type RunCommand,
} from './install.ts';

let dir: string;
let manifest: NativeManifest;
let addon: string;
let pkg: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-native-place-'));
  const lib = join(dir, 'cache', 'libtensorflow-gpu-2.21.0');
  // the layout pip makes: tensorflow/ and, for the GPU wheels, nvidia/<component>/lib beside it
  await mkdir(join(lib, 'tensorflow'), { recursive: true });
  await mkdir(join(lib, 'nvidia', 'cudnn', 'lib'), { recursive: true });
  await writeFile(join(lib, 'tensorflow', 'libtensorflow_cc.so.2'), 'tf');
  await writeFile(join(lib, 'nvidia', 'cudnn', 'lib', 'libcudnn.so.9'), 'cudnn');
  manifest = {
    format: MANIFEST_FORMAT,
    variant: 'gpu',
    tensorflow: {
      package: 'tensorflow',
      version: '2.21.0',
      wheel: 'tensorflow-2.21.0.whl',
      sha256: 'a'.repeat(64),
    },
    dir: lib,
  };
  addon = join(dir, 'tfjs_binding.node');
  await writeFile(addon, 'addon');
  pkg = join(dir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
  await mkdir(pkg, { recursive: true });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('placeIntoPackage', () => {
  it('links deps/lib to the cached libtensorflow by default', async () => {
    await placeIntoPackage(pkg, addon, manifest);
    const p = packagePaths(pkg);
    expect(await readFile(p.addon, 'utf8')).toBe('addon');
    expect(await readlink(p.depsLib)).toBe(join(manifest.dir, 'tensorflow'));
    expect(JSON.parse(await readFile(p.manifest, 'utf8'))).toEqual(manifest);
  });

  it('vendors: a copy inside the package that still loads after the package is copied elsewhere and the cache is gone', async () => {
    await placeIntoPackage(pkg, addon, manifest, { vendor: true });
    const moved = join(dir, 'image', 'app', 'node_modules', '@tensorflow', 'tfjs-node-gpu');
    await cp(pkg, moved, { recursive: true, verbatimSymlinks: true });
    await rm(join(dir, 'cache'), { recursive: true });
    await rm(pkg, { recursive: true });
    const p = packagePaths(moved);
    expect(await readlink(p.depsLib)).toBe(join('libtensorflow', 'tensorflow'));
    expect(await readFile(join(p.depsLib, 'libtensorflow_cc.so.2'), 'utf8')).toBe('tf');
    // the GPU wheels' RUNPATH ($ORIGIN/../nvidia/<x>/lib) resolves against the link's target
    expect(
      await readFile(
        join(await realpath(p.depsLib), '..', 'nvidia', 'cudnn', 'lib', 'libcudnn.so.9'),
        'utf8',
      ),
    ).toBe('cudnn');
    expect(JSON.parse(await readFile(p.manifest, 'utf8'))).toMatchObject({
      variant: 'gpu',
      dir: join(pkg, 'deps', 'libtensorflow'),
    });
  });

  it('vendors a copy every user can read, even from a cache folder made 0700 (the image runs as a non-root user)', async () => {
    await chmod(manifest.dir, 0o700);
    await placeIntoPackage(pkg, addon, manifest, { vendor: true });
    expect((await stat(join(pkg, 'deps', 'libtensorflow'))).mode & 0o777).toBe(0o755);
  });
});

describe('regression: the cached libtensorflow and addon were reused without an integrity check', () => {
  let cache: string;
  let lib: string;
  let lines: string[];
  let ran: string[];
  const log = (l: string) => lines.push(l);
  /** Stands in for pip and node-gyp: any download or compile it is asked for is refused, and recorded. */
  const run: RunCommand = async (command, args) => {
    ran.push(`${command} ${args.join(' ')}`);
    throw new Error('would download or compile');
  };
  const options = () => ({
    variant: 'cpu' as const,
    projectRoot: process.cwd(),
    env: { GITOPS_ML_CACHE: cache },
    log,
    run,
  });

  beforeEach(async () => {
    cache = join(dir, 'gitops-ml');
    lib = libtensorflowDir(cache, 'cpu');
    lines = [];
    ran = [];
    await mkdir(join(lib, 'tensorflow', 'include', 'tensorflow', 'c'), { recursive: true });
    for (const f of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
      await writeFile(join(lib, 'tensorflow', f), `lib ${f}`);
    }
    await writeFile(join(lib, 'tensorflow', 'include', 'tensorflow', 'c', 'c_api.h'), '/* c api */');
    const m: NativeManifest = {
      format: MANIFEST_FORMAT,
      variant: 'cpu',
      tensorflow: {
        package: 'tensorflow-cpu',
        version: TENSORFLOW_VERSION,
        wheel: 'tf.whl',
        sha256: 'b'.repeat(64),
      },
      dir: lib,
    };
    await writeFile(join(lib, 'manifest.json'), JSON.stringify(m));
  });

  it('libtensorflow: recorded once, reused while it matches, downloaded again once a library or a new file differs', async () => {
    expect(await ensureLibtensorflow(options())).toMatchObject({ cached: true });
    expect(lines).toEqual([
      `${lib}: no sha256 recorded (installed before records were kept): recording them now`,
    ]);
    const recorded = JSON.parse(await readFile(join(lib, 'manifest.json'), 'utf8')) as NativeManifest;
    expect(Object.keys(recorded.files ?? {})).toEqual([
      'tensorflow/include/tensorflow/c/c_api.h',
      'tensorflow/libtensorflow_cc.so.2',
      'tensorflow/libtensorflow_framework.so.2',
    ]);

    lines = [];
    expect(await ensureLibtensorflow(options())).toMatchObject({ cached: true });
    expect(lines).toEqual([]);
    expect(ran).toEqual([]);

    await appendFile(join(lib, 'tensorflow', 'libtensorflow_cc.so.2'), 'patched');
    await writeFile(join(lib, 'tensorflow', 'libevil.so'), 'x');
    await expect(ensureLibtensorflow(options())).rejects.toThrow('would download or compile');
    expect(lines[0]).toBe(
      `${lib} does not match the sha256 recorded at install (tensorflow/libevil.so, tensorflow/libtensorflow_cc.so.2): downloading it again`,
    );
    expect(ran).toEqual([expect.stringMatching(/-m pip download .*tensorflow-cpu==/)]);
  });

  it('the addon: recorded once, reused while it matches, compiled again once it differs', async () => {
    const file = addonCacheFile(cache, 'cpu');
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, 'addon');
    expect(await addonIntact(file, log)).toBe(true);
    expect(lines).toEqual([
      `${file}: no sha256 recorded (compiled before records were kept): recording it now`,
    ]);
    lines = [];
    expect(await ensureAddon(options(), pkg, lib)).toEqual({ file, cached: true });
    expect(lines).toEqual([]);

    await appendFile(file, 'patched');
    await writeFile(join(pkg, 'binding.gyp'), '{}'); // the sources a compile starts from
    await mkdir(join(pkg, 'binding'));
    await expect(ensureAddon(options(), pkg, lib)).rejects.toThrow('would download or compile');
    expect(lines[0]).toBe(
      `${file} does not match the sha256 recorded when it was compiled (${file}.sha256): compiling it again`,
    );
    expect(ran).toEqual([expect.stringContaining('node-gyp.js rebuild')]);
  });
});
