#!/usr/bin/env bash
# The peer stack of the benchmark (bench/peer/server.py): Python FastAPI +
# TensorFlow/Keras under uvicorn, the stack most MLOps tutorials teach.
# Installed from PyPI into a virtualenv, by the benchmark's own set-up (never by
# the tests): ${XDG_CACHE_HOME:-~/.cache}/gitops-ml/peer-tf2.21.0 (outside the
# repository, so test runners never crawl it), or $PEER_VENV.
# Idempotent: reused when its `.installed` marker matches the pinned versions.
# The first install downloads ~300 MB (tensorflow-cpu) and takes minutes.
set -euo pipefail
VENV="${PEER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/peer-tf2.21.0}"
PKGS=(
  "tensorflow-cpu==2.21.0"
  "fastapi==0.165.0"
  "uvicorn==0.54.0"
  "python-multipart==0.0.34"
  "pillow==13.0.0"
  "numpy<2.4"
)
WANT="${PKGS[*]}"
if [ -f "$VENV/.installed" ] && [ "$(cat "$VENV/.installed")" = "$WANT" ] && "$VENV/bin/python" -c 'import tensorflow, fastapi, uvicorn' 2>/dev/null; then
  echo "peer venv ready: $VENV"
  exit 0
fi
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || { echo "python3 is needed for the peer benchmark ($PY not found)" >&2; exit 1; }
# A half-finished install fails the check above and is rebuilt from scratch;
# the marker is written only after the install succeeded.
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PKGS[@]}"
"$VENV/bin/python" -c 'import tensorflow as tf, fastapi, uvicorn; print("tensorflow", tf.__version__, "fastapi", fastapi.__version__, "uvicorn", uvicorn.__version__)'
echo "$WANT" > "$VENV/.installed"
echo "peer venv ready: $VENV"
