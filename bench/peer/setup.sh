#!/usr/bin/env bash
# The Python peers of the benchmarks, from PyPI, each in a virtualenv whose
# folder bench/peer/venv.ts names (the one place; read here with the Node 24
# of node_modules, so run `npm ci` first):
#   keras    FastAPI + TensorFlow/Keras under uvicorn (bench/peer/server.py,
#            the Keras side of bench:training and bench:cifar10):
#            ${XDG_CACHE_HOME:-~/.cache}/gitops-ml/peer-tf2.21.0, or $PEER_VENV
#   servers  KServe and LitServe with the same TensorFlow
#            (bench/peer/kserve_server.py, litserve_server.py): the keras
#            folder with -kserve-litserve appended (venv.ts says why apart)
# Outside the repository, so test runners never crawl them; made by the
# benchmarks' own set-up, never by the tests.
#   bash bench/peer/setup.sh              # both
#   bash bench/peer/setup.sh keras        # only the one bench:training and bench:cifar10 need
# Idempotent: a venv is reused when its `.installed` marker matches its pinned
# versions. Each first install downloads ~300 MB (tensorflow-cpu), minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

KERAS_PKGS=(
  "tensorflow-cpu==2.21.0"
  "fastapi==0.165.0"
  "uvicorn==0.54.0"
  "python-multipart==0.0.34"
  "pillow==13.0.0"
  "numpy<2.4"
)
# The same TensorFlow, FastAPI and uvicorn as the keras venv (KServe and
# LitServe both serve through FastAPI under uvicorn), with the extras
# uvicorn[standard] that both require.
SERVERS_PKGS=(
  "tensorflow-cpu==2.21.0"
  "kserve==0.21.0"
  "litserve==0.2.19"
  "fastapi==0.165.0"
  "uvicorn[standard]==0.54.0"
  "python-multipart==0.0.34"
  "pillow==13.0.0"
  "numpy<2.4"
)

NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || { echo "bench/peer/setup.sh reads the venv folders from bench/peer/venv.ts with $NODE: run npm ci first" >&2; exit 1; }
declare -A VENV
while IFS=$'\t' read -r name dir; do VENV[$name]="$dir"; done < <("$NODE" "$ROOT/bench/peer/venv.ts")

PY="${PYTHON:-python3}"

# install_venv <folder> <python imports to check> <packages...>
install_venv() {
  local venv="$1" imports="$2"
  shift 2
  local want="$*"
  if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ] && "$venv/bin/python" -c "import $imports" 2>/dev/null; then
    echo "peer venv ready: $venv"
    return 0
  fi
  command -v "$PY" >/dev/null || { echo "python3 is needed for the peer benchmark ($PY not found)" >&2; exit 1; }
  # A half-finished install fails the check above and is rebuilt from scratch;
  # the marker is written only after the install succeeded.
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
  TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" -c "import importlib, importlib.metadata; print(*(f'{n} {getattr(importlib.import_module(n), \"__version__\", None) or importlib.metadata.version(n)}' for n in '$imports'.split(', ')))"
  echo "$want" > "$venv/.installed"
  echo "peer venv ready: $venv"
}

NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(keras servers)
for name in "${NAMES[@]}"; do
  case "$name" in
    keras) install_venv "${VENV[keras]}" "tensorflow, fastapi, uvicorn" "${KERAS_PKGS[@]}" ;;
    servers) install_venv "${VENV[servers]}" "tensorflow, kserve, litserve" "${SERVERS_PKGS[@]}" ;;
    *) echo "bench/peer/setup.sh: unknown venv \"$name\" (keras, servers)" >&2; exit 2 ;;
  esac
done
