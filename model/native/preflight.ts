/**
 * GPU preflight: before a run that must train on the GPU (a runner labelled
 * `gpu`: train.yml sets TRAINING_BACKEND=tensorflow-gpu), check what
 * TensorFlow will need, so the run fails in seconds with what is missing
 * instead of training for hours on the CPU:
 *
 *   - the NVIDIA kernel driver, new enough for CUDA 12 (minor version
 *     compatibility: >= 525.60.13 on Linux,
 *     https://docs.nvidia.com/deploy/cuda-compatibility/);
 *   - the driver's user-space library libcuda.so.1 (what a container lacks
 *     without the NVIDIA container toolkit);
 *   - libtensorflow's GPU build and each CUDA 12 / cuDNN library it loads, as
 *     scripts/setup.d/71-tfjs-native-gpu.sh lays them out (./layout.ts);
 *   - the compiled @tensorflow/tfjs-node-gpu addon in node_modules.
 *
 * Reads files only (no GPU call), so it is tested against fake layouts.
 */
import { existsSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import { readJsonFile } from '../../platform/fs.ts';

import {
  cacheRoot,
  libtensorflowDir,
  type NativeManifest,
  type Pin,
  packagePaths,
  resolvePackageDir,
  TENSORFLOW_VERSION,
  VARIANTS,
} from './layout.ts';
import { cudaPins } from './plan.ts';
import { cudaFilesFor } from './wheel.ts';

/** The oldest Linux driver that runs CUDA 12.x applications (minor version compatibility). */
export const MIN_DRIVER_CUDA12 = '525.60.13';

export interface PreflightRow {
  check: string;
  found: string;
  needed: string;
  ok: boolean;
}

export interface PreflightReport {
  ok: boolean;
  rows: PreflightRow[];
  /** What to do, one line per distinct fix, in order. */
  fixes: string[];
}

export interface PreflightOptions {
  env: Record<string, string | undefined>;
  projectRoot: string;
  /** Prefix of every system path read (/proc, /usr/lib...): tests point it at a fake layout. */
  fsRoot?: string;
}

/** Compare dotted numeric versions: negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The driver version from /proc/driver/nvidia/version ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15 ..."). */
export function parseDriverVersion(text: string): string | undefined {
  return /Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+(?:\.[0-9]+)+)/.exec(text)?.[1];
}

/** Where the dynamic loader finds libcuda.so.1 on common distributions, in containers and under WSL. */
const LIBCUDA_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib/x86_64-linux-gnu',
  '/lib64',
  '/usr/local/nvidia/lib64',
  '/usr/local/nvidia/lib',
  '/usr/lib/wsl/lib',
];

const SETUP_FIX = `run \`bash ${VARIANTS.gpu.setupStep}\` (downloads tensorflow==${TENSORFLOW_VERSION} and its CUDA 12 / cuDNN wheels from PyPI, about 2.5 GB once; behind a mirror set PIP_INDEX_URL)`;

/** The report's rows and its distinct fixes, in the order the checks ran. */
class Findings {
  readonly rows: PreflightRow[] = [];
  readonly fixes: string[] = [];
  /** Add a row; when it failed, `fix` too (once). */
  add(row: PreflightRow, fix: string): void {
    this.rows.push(row);
    if (!row.ok && !this.fixes.includes(fix)) this.fixes.push(fix);
  }
}

/** Check, in order, the driver, libcuda.so.1, libtensorflow's GPU build with its CUDA libraries, and the addon. */
export async function gpuPreflight(o: PreflightOptions): Promise<PreflightReport> {
  const root = o.fsRoot ?? '/';
  const sys = (p: string) => join(root, p);
  const out = new Findings();
  const driver = await checkDriver(out, sys);
  checkLibcuda(out, sys, o.env, driver);
  const dir = libtensorflowDir(cacheRoot(o.env), 'gpu');
  const manifest = await checkTensorflow(out, dir);
  await checkCudaLibraries(out, dir, manifest, o.env);
  checkAddon(out, dir, o.projectRoot);
  return { ok: out.rows.every((r) => r.ok), rows: out.rows, fixes: out.fixes };
}

/** 1. The kernel driver, new enough for CUDA 12; its version when loaded. */
async function checkDriver(out: Findings, sys: (p: string) => string): Promise<string | undefined> {
  const versionFile = sys('/proc/driver/nvidia/version');
  const driver = existsSync(versionFile)
    ? parseDriverVersion(await readFile(versionFile, 'utf8'))
    : undefined;
  out.add(
    {
      check: 'NVIDIA driver',
      found: driver ?? `none (${versionFile} absent)`,
      needed: `>= ${MIN_DRIVER_CUDA12} (CUDA 12)`,
      ok: driver !== undefined && compareVersions(driver, MIN_DRIVER_CUDA12) >= 0,
    },
    `install the NVIDIA driver ${MIN_DRIVER_CUDA12} or newer (Ubuntu: \`sudo ubuntu-drivers install\` or \`sudo apt install nvidia-driver-550-server\`; Kubernetes: the NVIDIA GPU Operator) and reboot; \`nvidia-smi\` must list the GPU`,
  );
  return driver;
}

/** 2. The driver's user-space library, where the dynamic loader finds it. */
function checkLibcuda(
  out: Findings,
  sys: (p: string) => string,
  env: PreflightOptions['env'],
  driver: string | undefined,
): void {
  const ldPath = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const libcuda = [...ldPath, ...LIBCUDA_DIRS]
    .map((d) => join(sys(d), 'libcuda.so.1'))
    .find((p) => existsSync(p));
  out.add(
    {
      check: 'libcuda.so.1 (driver library)',
      found: libcuda ?? 'not found',
      needed: 'installed with the driver',
      ok: libcuda !== undefined,
    },
    driver
      ? "the driver is loaded but libcuda.so.1 is not visible: install the driver's user-space libraries (Ubuntu: libnvidia-compute-<version>), or in a container run with the NVIDIA container toolkit (`--gpus all`, runtimeClassName nvidia)"
      : 'libcuda.so.1 comes with the NVIDIA driver (see above)',
  );
}

/** 3. libtensorflow's GPU build in `dir`, at our version; its manifest when there is one. */
async function checkTensorflow(out: Findings, dir: string): Promise<NativeManifest | undefined> {
  let manifest: NativeManifest | undefined;
  try {
    manifest = (await readJsonFile(join(dir, 'manifest.json'))) as NativeManifest;
  } catch {
    manifest = undefined;
  }
  const tfLibs = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'];
  const tfOk =
    manifest?.tensorflow?.version === TENSORFLOW_VERSION &&
    manifest.variant === 'gpu' &&
    tfLibs.every((f) => existsSync(join(dir, f)));
  out.add(
    {
      check: 'TensorFlow (GPU build)',
      found: manifest?.tensorflow
        ? `${manifest.tensorflow.package} ${manifest.tensorflow.version}${tfOk ? '' : ' (incomplete)'} in ${dir}`
        : `none in ${dir}`,
      needed: `tensorflow ${TENSORFLOW_VERSION}`,
      ok: tfOk,
    },
    SETUP_FIX,
  );
  return manifest;
}

/**
 * 3. Each required CUDA 12 / cuDNN library, at the version the manifest pins
 * (else the cached plan's pins; without either, one failed row).
 */
async function checkCudaLibraries(
  out: Findings,
  dir: string,
  manifest: NativeManifest | undefined,
  env: PreflightOptions['env'],
): Promise<void> {
  let pins: Pin[] | undefined = manifest?.cuda?.map((c) => ({ name: c.package, version: c.version }));
  if (!pins) {
    try {
      pins = await cudaPins(env);
    } catch {
      pins = undefined; // nothing cached to say which versions: the row below says so
    }
  }
  if (!pins) {
    out.add(
      { check: 'CUDA 12 / cuDNN', found: 'none', needed: 'the and-cuda wheels of tensorflow', ok: false },
      SETUP_FIX,
    );
    return;
  }
  const installed = new Map((manifest?.cuda ?? []).map((c) => [c.package, c.version]));
  for (const c of cudaFilesFor(pins)) {
    if (!c.component.required) continue;
    const missing = c.files.filter((f) => !existsSync(join(dir, f)));
    const version = installed.get(c.pin.name);
    out.add(
      {
        check: c.component.label,
        found: missing.length ? `missing ${missing.join(', ')}` : (version ?? 'unknown version'),
        needed: `${c.pin.version} (${c.pin.name})`,
        ok: missing.length === 0 && version === c.pin.version,
      },
      SETUP_FIX,
    );
  }
}

/** 4. The compiled tfjs-node-gpu addon, its deps/lib linked to `dir`'s libtensorflow. */
function checkAddon(out: Findings, dir: string, projectRoot: string): void {
  const pkgDir = resolvePackageDir(projectRoot, VARIANTS.gpu.npmPackage);
  const paths = pkgDir ? packagePaths(pkgDir) : undefined;
  let linked: string | undefined;
  try {
    linked = paths ? realpathSync(paths.depsLib) : undefined;
  } catch {
    linked = undefined;
  }
  out.add(
    {
      check: `${VARIANTS.gpu.npmPackage} addon`,
      found: !pkgDir
        ? 'package not installed'
        : !existsSync(paths?.addon ?? '')
          ? 'not compiled'
          : `deps/lib -> ${linked ?? 'nothing'}`,
      needed: `compiled, deps/lib -> ${join(dir, 'tensorflow')}`,
      ok: !!paths && existsSync(paths.addon) && linked === realpathOr(join(dir, 'tensorflow')),
    },
    SETUP_FIX,
  );
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** The report as a table and a list of fixes. */
export function formatPreflight(r: PreflightReport): string {
  const head = ['', 'check', 'found', 'needed'];
  const body = r.rows.map((row) => [row.ok ? 'ok' : 'NO', row.check, row.found, row.needed]);
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((cells) => (cells[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const out = [
    `GPU preflight: ${r.ok ? 'ready' : 'NOT ready'}`,
    `  ${line(head)}`,
    ...body.map((b) => `  ${line(b)}`),
  ];
  if (r.fixes.length) out.push('What to do:', ...r.fixes.map((f) => `  - ${f}`));
  return out.join('\n');
}

/**
 * Throw when the GPU cannot be used, with the whole report as the message
 * (exit code 1 in scripts). Called by ci:train when TRAINING_BACKEND=tensorflow-gpu.
 */
export async function assertGpuReady(o: PreflightOptions): Promise<PreflightReport> {
  const report = await gpuPreflight(o);
  if (!report.ok) {
    throw new ProjectError(
      'UNAVAILABLE',
      `TRAINING_BACKEND=tensorflow-gpu, but this machine cannot train on the GPU; not falling back to the CPU.\n${formatPreflight(report)}`,
      { subject: 'TRAINING_BACKEND', details: report },
    );
  }
  return report;
}
