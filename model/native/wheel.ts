/**
 * Which wheels the set-up downloads: TensorFlow itself, and for the GPU
 * variant the CUDA 12 / cuDNN runtime wheels of its `and-cuda` extra
 * (https://www.tensorflow.org/install/pip), read from the wheel's own
 * METADATA (core metadata, https://packaging.python.org/en/latest/specifications/core-metadata/).
 */
import { ProjectError } from '../../platform/errors.ts';
import type { Pin } from './layout.ts';

/** What one `and-cuda` distribution provides: its folder under `nvidia/`, and what TensorFlow loads from it. */
export interface CudaComponent {
  /** Shown in the preflight table. */
  label: string;
  /** Folder under `nvidia/` where the wheel puts its files. */
  dir: string;
  /** Files TensorFlow loads (dlopen by soname, or ptxas), relative to `nvidia/<dir>/`, for a package major version. */
  files: (major: number) => string[];
  /** Without it TensorFlow registers no GPU ("Cannot dlopen some GPU libraries"). */
  required: boolean;
}

/**
 * TensorFlow's GPU device needs cudart, cuBLAS(Lt), cuFFT, cuSOLVER, cuSPARSE
 * and cuDNN (tensorflow/core/common_runtime/gpu/gpu_device.cc); the rest are
 * loaded for particular ops (NCCL collectives, cuRAND, CUPTI profiling, JIT).
 * The soname's number is the package's major version.
 */
export const CUDA_COMPONENTS: Record<string, CudaComponent> = Object.fromEntries(
  (
    [
      // package, label, folder under nvidia/, sonames (or files) TensorFlow loads, required
      ['nvidia-cuda-runtime-cu12', 'CUDA runtime', 'cuda_runtime', ['libcudart'], true],
      ['nvidia-cublas-cu12', 'cuBLAS', 'cublas', ['libcublas', 'libcublasLt'], true],
      ['nvidia-cudnn-cu12', 'cuDNN', 'cudnn', ['libcudnn'], true],
      ['nvidia-cufft-cu12', 'cuFFT', 'cufft', ['libcufft'], true],
      ['nvidia-cusolver-cu12', 'cuSOLVER', 'cusolver', ['libcusolver'], true],
      ['nvidia-cusparse-cu12', 'cuSPARSE', 'cusparse', ['libcusparse'], true],
      ['nvidia-nvjitlink-cu12', 'nvJitLink', 'nvjitlink', ['libnvJitLink'], true],
      ['nvidia-curand-cu12', 'cuRAND', 'curand', ['libcurand'], false],
      ['nvidia-nccl-cu12', 'NCCL', 'nccl', ['libnccl'], false],
      ['nvidia-cuda-cupti-cu12', 'CUPTI', 'cuda_cupti', ['libcupti'], false],
      ['nvidia-cuda-nvrtc-cu12', 'NVRTC', 'cuda_nvrtc', ['libnvrtc'], false],
    ] as const
  ).map(([pkg, label, dir, libs, required]) => [
    pkg,
    { label, dir, files: (m: number) => libs.map((l) => `lib/${l}.so.${m}`), required },
  ]),
);
CUDA_COMPONENTS['nvidia-cuda-nvcc-cu12'] = {
  label: 'ptxas',
  dir: 'cuda_nvcc',
  files: () => ['bin/ptxas'],
  required: false,
};

const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/**
 * The `and-cuda` requirements of a TensorFlow wheel, each pinned to its lower
 * bound: TensorFlow states `nvidia-cudnn-cu12>=9.3.0.75,<10` where 9.3.0.75 is
 * the version it was built and tested against; pinning it keeps every runner
 * (and a PyPI mirror) on that same set instead of whatever is newest that day.
 */
export function cudaPinsFromMetadata(metadata: string, source = 'METADATA'): Pin[] {
  const pins: Pin[] = [];
  for (const raw of metadata.split(/\r?\n/)) {
    const m =
      /^Requires-Dist:\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*\(?([^;)]*)\)?\s*;\s*(.+)$/.exec(
        raw,
      );
    if (!m) continue;
    const [, name, specs, marker] = m as unknown as [string, string, string, string];
    if (!/extra\s*==\s*["']and-cuda["']/.test(marker)) continue;
    const lower = /(?:^|,)\s*>=\s*([0-9][0-9A-Za-z.+-]*)/.exec(specs);
    if (!lower) {
      throw new ProjectError(
        'INVALID',
        `${source}: "${raw.trim()}" has no lower bound (>=) to pin the CUDA version to`,
        {
          subject: source,
          hint: 'pick the versions by hand with TFJS_NATIVE_CUDA_PINS="name==version ..."',
        },
      );
    }
    pins.push({ name: normalize(name), version: lower[1] as string });
  }
  if (pins.length === 0) {
    throw new ProjectError(
      'INVALID',
      `${source}: no requirement with extra == "and-cuda" (not a TensorFlow wheel?)`,
      {
        subject: source,
      },
    );
  }
  return pins.sort((a, b) => a.name.localeCompare(b.name));
}

/** Parse "name==version name==version" (TFJS_NATIVE_CUDA_PINS), for a mirror that lacks the default set. */
export function parsePins(text: string, source: string): Pin[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((item) => {
      const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+-]*)$/.exec(item);
      if (!m) {
        throw new ProjectError('USAGE', `${source}: "${item}" is not name==version`, { subject: source });
      }
      return { name: normalize(m[1] as string), version: m[2] as string };
    });
}

/** The major version (first number) of a version string. */
export function majorOf(version: string): number {
  const n = Number.parseInt(version, 10);
  if (!Number.isFinite(n))
    throw new ProjectError('INVALID', `version "${version}" does not start with a number`);
  return n;
}

/** The files of each pinned component TensorFlow will look for, relative to the libtensorflow folder. */
export function cudaFilesFor(
  pins: readonly Pin[],
): { pin: Pin; component: CudaComponent; files: string[] }[] {
  return pins.map((pin) => {
    const component = CUDA_COMPONENTS[pin.name];
    if (!component) {
      throw new ProjectError('INVALID', `${pin.name}: not a CUDA component this set-up knows where to find`, {
        subject: pin.name,
        hint: `known: ${Object.keys(CUDA_COMPONENTS).join(', ')}`,
      });
    }
    return {
      pin,
      component,
      files: component.files(majorOf(pin.version)).map((f) => `nvidia/${component.dir}/${f}`),
    };
  });
}
