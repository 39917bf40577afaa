import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ProjectError } from '../../platform/errors.ts';
import { needs, requirement } from '../../testing/services.ts';
import { cacheRoot, libtensorflowDir } from './layout.ts';
import { planDownloads } from './plan.ts';
import { cudaFilesFor, cudaPinsFromMetadata, parsePins } from './wheel.ts';

/** The `and-cuda` lines of tensorflow 2.21.0's METADATA, as the wheel has them, among other requirements. */
const METADATA = `Metadata-Version: 2.1
Name: tensorflow
Version: 2.21.0
Requires-Dist: numpy>=1.26.0
Requires-Dist: ml_dtypes<1.0.0,>=0.5.1
Requires-Dist: nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == "and-cuda"
Requires-Dist: nvidia-cuda-cupti-cu12<13.0,>=12.5.82; extra == "and-cuda"
Requires-Dist: nvidia-cuda-nvcc-cu12<13.0,>=12.5.82; extra == "and-cuda"
Requires-Dist: nvidia-cuda-nvrtc-cu12<13.0,>=12.5.82; extra == "and-cuda"
Requires-Dist: nvidia-cuda-runtime-cu12<13.0,>=12.5.82; extra == "and-cuda"
Requires-Dist: nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"
Requires-Dist: nvidia-cufft-cu12<12.0,>=11.2.3.61; extra == "and-cuda"
Requires-Dist: nvidia-curand-cu12<11.0,>=10.3.6.82; extra == "and-cuda"
Requires-Dist: nvidia-cusolver-cu12<12.0,>=11.6.3.83; extra == "and-cuda"
Requires-Dist: nvidia-cusparse-cu12<13.0,>=12.5.1.3; extra == "and-cuda"
Requires-Dist: nvidia-nccl-cu12<3.0,>=2.27.7; extra == "and-cuda"
Requires-Dist: nvidia-nvjitlink-cu12<13.0,>=12.5.82; extra == "and-cuda"
Requires-Dist: tensorflow-io-gcs-filesystem>=0.23.1; (sys_platform != "win32" and python_version < "3.13") and extra == "gcs-filesystem"
`;

const EXPECTED = [
  'nvidia-cublas-cu12==12.5.3.2',
  'nvidia-cuda-cupti-cu12==12.5.82',
  'nvidia-cuda-nvcc-cu12==12.5.82',
  'nvidia-cuda-nvrtc-cu12==12.5.82',
  'nvidia-cuda-runtime-cu12==12.5.82',
  'nvidia-cudnn-cu12==9.3.0.75',
  'nvidia-cufft-cu12==11.2.3.61',
  'nvidia-curand-cu12==10.3.6.82',
  'nvidia-cusolver-cu12==11.6.3.83',
  'nvidia-cusparse-cu12==12.5.1.3',
  'nvidia-nccl-cu12==2.27.7',
  'nvidia-nvjitlink-cu12==12.5.82',
];

/** The METADATA of the real wheel, which scripts/setup.d/70-tfjs-native.sh keeps. */
const metadataPath = join(libtensorflowDir(cacheRoot(process.env), 'cpu'), 'METADATA');
const metadata = requirement(
  "the TensorFlow wheel's METADATA",
  existsSync(metadataPath) ? metadataPath : undefined,
  `run bash scripts/setup.d/70-tfjs-native.sh (keeps ${metadataPath})`,
);
const withWheel = needs(metadata).it;

describe('cudaPinsFromMetadata', () => {
  it('pins every and-cuda requirement to its lower bound, the version TensorFlow was built against', () => {
    const pins = cudaPinsFromMetadata(METADATA);
    expect(pins.map((p) => `${p.name}==${p.version}`)).toEqual(EXPECTED);
  });

  withWheel('reads the same pins from the METADATA the set-up kept from the real wheel', async () => {
    const path = metadata.path;
    const pins = cudaPinsFromMetadata(await readFile(path, 'utf8'), path);
    expect(pins.map((p) => `${p.name}==${p.version}`)).toEqual(EXPECTED);
  });

  it('refuses a requirement with no lower bound, naming it and the way out', () => {
    const err = (() => {
      try {
        cudaPinsFromMetadata(
          'Requires-Dist: nvidia-cudnn-cu12<10.0; extra == "and-cuda"\n',
          'x.whl METADATA',
        );
      } catch (e) {
        return e as ProjectError;
      }
    })();
    expect(err).toBeInstanceOf(ProjectError);
    expect(err?.message).toBe(
      'x.whl METADATA: "Requires-Dist: nvidia-cudnn-cu12<10.0; extra == "and-cuda"" has no lower bound (>=) to pin the CUDA version to\n' +
        '  → pick the versions by hand with TFJS_NATIVE_CUDA_PINS="name==version ..."',
    );
  });

  it('refuses METADATA without the and-cuda extra', () => {
    expect(() => cudaPinsFromMetadata('Requires-Dist: numpy>=1.26\n', 'keras METADATA')).toThrow(
      'keras METADATA: no requirement with extra == "and-cuda" (not a TensorFlow wheel?)',
    );
  });
});

describe('parsePins and cudaFilesFor', () => {
  it('take pins by hand (TFJS_NATIVE_CUDA_PINS) and name the file TensorFlow loads from each', () => {
    const pins = parsePins(
      'nvidia-cudnn-cu12==9.5.1.17, nvidia_cublas_cu12==12.6.4.1',
      'TFJS_NATIVE_CUDA_PINS',
    );
    expect(cudaFilesFor(pins).map((c) => c.files)).toEqual([
      ['nvidia/cudnn/lib/libcudnn.so.9'],
      ['nvidia/cublas/lib/libcublas.so.12', 'nvidia/cublas/lib/libcublasLt.so.12'],
    ]);
    expect(() => parsePins('nvidia-cudnn-cu12>=9', 'TFJS_NATIVE_CUDA_PINS')).toThrow(
      'TFJS_NATIVE_CUDA_PINS: "nvidia-cudnn-cu12>=9" is not name==version',
    );
    expect(() => cudaFilesFor([{ name: 'nvidia-cuda-sanitizer-api-cu12', version: '12.5.81' }])).toThrow(
      'nvidia-cuda-sanitizer-api-cu12: not a CUDA component this set-up knows where to find',
    );
  });

  it('plans the GPU download: the tensorflow wheel, then each CUDA wheel with its files', async () => {
    const lines = await planDownloads('gpu', { TFJS_NATIVE_CUDA_PINS: 'nvidia-cudnn-cu12==9.3.0.75' });
    expect(lines).toEqual([
      'tensorflow==2.21.0  -> tensorflow/libtensorflow_cc.so.2, libtensorflow_framework.so.2, C headers',
      'nvidia-cudnn-cu12==9.3.0.75  -> nvidia/cudnn/lib/libcudnn.so.9',
    ]);
  });
});
