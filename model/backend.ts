import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NAPI_VERSION, VARIANTS } from './native/layout.ts';
import { installNativeTrainingKernels } from './native/ops.ts';

/** Backend names, fastest first. tfjs-node* are optional native packages. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  /**
   * Which of {@link BackendName} is active: tells tfjs-node-gpu
   * (`tensorflow-gpu`) from tfjs-node (`tensorflow`), which tfjs names alike.
   * What MLflow's `backend` tag and the lock entry record.
   */
  id: BackendName;
  /** The tfjs backend name now active (tf.getBackend()). */
  name: string;
  /** The npm package that provided it. */
  package: string;
  /** Native backends: the TensorFlow version (TF_Version()) and whether it runs on a GPU. */
  tensorflow?: { version: string; gpu: boolean };
  /** Why each faster candidate was skipped. */
  skipped: { package: string; reason: string }[];
}

interface Candidate {
  package: string;
  backend: string;
  load: () => Promise<unknown>;
}

const require = createRequire(import.meta.url);

/**
 * Which native package registered the "tensorflow" backend in this process
 * (both register it under that name, and only the first import counts).
 */
let nativePackageLoaded: string | undefined;

/** The native package (tfjs-node or tfjs-node-gpu) this process loaded, if any. */
export function loadedNativePackage(): string | undefined {
  return nativePackageLoaded;
}

/** Throw, saying which set-up step to run, unless the package and its compiled addon are installed. */
function assertNativeBuilt(pkg: string): void {
  let dir: string;
  try {
    dir = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(
      `not installed (npm drops it when its install script cannot download libtensorflow; run ${setupStepOf(pkg)})`,
    );
  }
  if (!existsSync(join(dir, 'lib', `napi-v${NAPI_VERSION}`, 'tfjs_binding.node'))) {
    throw new Error(`its native addon is not built: run ${setupStepOf(pkg)}`);
  }
}

/**
 * Load a native package only when its addon is there: tfjs-node's index
 * registers ~200 kernels before it looks for the addon, so importing a copy
 * without one would leave half a backend behind (and duplicate-kernel warnings
 * when the other native package loads).
 */
async function loadNative(pkg: string): Promise<unknown> {
  assertNativeBuilt(pkg);
  // tfjs-node 4.22 calls util.isNullOrUndefined, which Node 23 removed (DEP0051); the fix is merged
  // upstream but unreleased (https://github.com/tensorflow/tfjs/pull/8425, issue #8609). Restore the
  // documented semantics before the package loads.
  const util = require('node:util') as Record<string, unknown>;
  if (typeof util.isNullOrUndefined !== 'function') {
    util.isNullOrUndefined = (v: unknown) => v === null || v === undefined;
  }
  // and util.isArray, which still exists but prints a deprecation warning (DEP0044) on first use
  util.isArray = Array.isArray;
  // TensorFlow's C++ logging (oneDNN notices, CPU feature lines) goes to stderr at load; keep
  // warnings and errors only unless the user asked for more.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const loaded = await import(pkg);
  nativePackageLoaded = pkg;
  return loaded;
}

function setupStepOf(pkg: string): string {
  const v = Object.values(VARIANTS).find((x) => x.npmPackage === pkg);
  return `\`bash ${v?.setupStep ?? 'scripts/setup.d/70-tfjs-native.sh'}\``;
}

const CANDIDATES: Record<BackendName, Candidate> = {
  'tensorflow-gpu': {
    package: '@tensorflow/tfjs-node-gpu',
    backend: 'tensorflow',
    load: () => loadNative('@tensorflow/tfjs-node-gpu'),
  },
  tensorflow: {
    package: '@tensorflow/tfjs-node',
    backend: 'tensorflow',
    load: () => loadNative('@tensorflow/tfjs-node'),
  },
  wasm: {
    package: '@tensorflow/tfjs-backend-wasm',
    backend: 'wasm',
    load: () => import('@tensorflow/tfjs-backend-wasm'),
  },
  cpu: { package: '@tensorflow/tfjs (pure JS)', backend: 'cpu', load: async () => undefined },
};

/** Training cannot use wasm (no Conv2DBackpropFilter kernel); serving can. */
export const TRAINING_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'cpu'];
export const SERVING_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** What the active native backend reports: TF_Version() and whether TensorFlow placed ops on a GPU. */
function nativeInfo(): { version: string; gpu: boolean } | undefined {
  const b = tf.backend() as unknown as { binding?: { TF_Version?: string }; isUsingGpuDevice?: boolean };
  if (!b.binding?.TF_Version) return undefined;
  return { version: b.binding.TF_Version, gpu: b.isUsingGpuDevice === true };
}

/**
 * Pick the fastest backend that loads, in `order`. `force` (e.g. from
 * TRAINING_BACKEND / SERVING_BACKEND) restricts the choice to one name.
 *
 * tfjs-node-gpu without a usable GPU still loads (TensorFlow falls back to
 * its CPU kernels): unforced, that counts as `tensorflow` (the CPU), and the
 * skip list says why; forced to `tensorflow-gpu`, it is an error, never a
 * silent CPU run.
 */
export async function selectBackend(order: BackendName[], force?: BackendName): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [];
  const names = force ? [force] : order;
  for (const name of names) {
    const c = CANDIDATES[name];
    try {
      // tfjs-node and -gpu both register "tensorflow"; once one has, the other is not imported again.
      const registered = c.backend === 'tensorflow' && tf.findBackendFactory('tensorflow') !== null;
      if (registered && name === 'tensorflow-gpu' && nativePackageLoaded !== c.package) {
        assertNativeBuilt(c.package);
        throw new Error(
          `this process already runs the native backend of ${nativePackageLoaded ?? 'another package'}; one process holds one libtensorflow`,
        );
      }
      if (!registered) await c.load();
      if (!(await tf.setBackend(c.backend))) throw new Error(`tf.setBackend('${c.backend}') returned false`);
      await tf.ready();
      const native = c.backend === 'tensorflow' ? nativeInfo() : undefined;
      if (native) installNativeTrainingKernels();
      if (name === 'tensorflow-gpu' && native && !native.gpu) {
        throw new Error(
          'it loaded, but TensorFlow found no GPU (driver, CUDA or cuDNN missing): `npm exec tsx scripts/setup-tfjs-native.ts -- --variant gpu --check` says which',
        );
      }
      // tfjs-node-gpu without a GPU serves as the CPU backend: say which package it really is.
      const gpuPackage = CANDIDATES['tensorflow-gpu'].package;
      const pkg =
        name === 'tensorflow' && nativePackageLoaded === gpuPackage
          ? `${gpuPackage} (on the CPU)`
          : c.package;
      return {
        id: name === 'tensorflow-gpu' || (native?.gpu ?? false) ? 'tensorflow-gpu' : name,
        name: tf.getBackend(),
        package: pkg,
        ...(native ? { tensorflow: native } : {}),
        skipped,
      };
    } catch (e) {
      skipped.push({ package: c.package, reason: ((e as Error).message ?? String(e)).split('\n')[0] ?? '' });
    }
  }
  throw new Error(
    `no tfjs backend could be loaded: ${skipped.map((s) => `${s.package} (${s.reason})`).join('; ')}`,
  );
}

/** The `deps/gitops-ml-native.json` manifest of an installed native package (which wheel its libtensorflow came from). */
export function nativeManifestOf(pkg: string): unknown {
  try {
    const dir = dirname(require.resolve(`${pkg}/package.json`));
    return JSON.parse(readFileSync(join(dir, 'deps', 'gitops-ml-native.json'), 'utf8'));
  } catch {
    return undefined;
  }
}
