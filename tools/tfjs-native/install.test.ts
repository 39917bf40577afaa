/**
 * Step 4 of the native set-up: how the addon and libtensorflow land in the
 * npm package. Linked to the cache on a developer machine; vendored (copied
 * in, with a relative link) for container images, whose later stages copy
 * node_modules and not the build's cache.
 */
import {
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
import { MANIFEST_FORMAT, type NativeManifest, packagePaths } from '../../model/native/layout.ts';
import { placeIntoPackage } from './install.ts';

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
