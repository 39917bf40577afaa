#!/usr/bin/env bash
# The native TensorFlow backend for NVIDIA GPUs (@tensorflow/tfjs-node-gpu),
# from registry packages only: the CUDA-enabled PyPI wheel `tensorflow` and
# the CUDA 12 / cuDNN runtime wheels of its `and-cuda` extra (nvidia-*-cu12,
# pinned to the versions TensorFlow was built against), laid out as pip
# would; the addon compiled with node-gyp as in 70-tfjs-native.sh. The
# machine needs only the NVIDIA driver. About 2.5 GB to download once,
# cached under ${XDG_CACHE_HOME:-~/.cache}/gitops-ml/libtensorflow-gpu-<tf>/.
# Behind a PyPI mirror (air-gapped runners): set PIP_INDEX_URL.
#
# Runs only where an NVIDIA driver is loaded (/proc/driver/nvidia/version),
# or when GITOPS_ML_GPU=1 forces it; elsewhere it says so and does nothing.
# After installing it prints the GPU preflight (driver, CUDA, cuDNN found vs
# needed), and fails when the GPU is not usable.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
if [ "${GITOPS_ML_GPU:-}" != "1" ] && [ ! -r /proc/driver/nvidia/version ]; then
  echo "no NVIDIA driver here (/proc/driver/nvidia/version): skipping the GPU backend (GITOPS_ML_GPU=1 installs it anyway)"
  exit 0
fi
tsx scripts/setup-tfjs-native.ts --variant gpu "$@"
# The preflight needs the driver: with GITOPS_ML_GPU=1 on a machine without one, stop after installing.
[ -r /proc/driver/nvidia/version ] || exit 0
exec tsx scripts/setup-tfjs-native.ts --variant gpu --check
