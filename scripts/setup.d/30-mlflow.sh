#!/usr/bin/env bash
# MLflow tracking server from PyPI, for the tracking e2e tests
# (lib/testing/mlflow.ts starts it on a loopback port with a SQLite backend
# store and a temp artifact root). Installed once into a cached virtualenv:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/mlflow-<version>
# and reused when its `.installed` marker is there and `mlflow --version` answers the pinned
# version. Override the location with GITOPS_ML_MLFLOW_VENV (the tests read the
# same variable). The first install downloads a few hundred MB and takes minutes.
# Pinned to 3.17.2: mlflow 3.18.0 needs mlflow-skinny==3.18.0, not yet on PyPI here.
set -euo pipefail
MLFLOW_VERSION="${MLFLOW_VERSION:-3.17.2}"
VENV="${GITOPS_ML_MLFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/mlflow-${MLFLOW_VERSION}}"
if [ -f "$VENV/.installed" ] && "$VENV/bin/mlflow" --version 2>/dev/null | grep -q "$MLFLOW_VERSION"; then
  echo "mlflow ${MLFLOW_VERSION} already in $VENV"
  exit 0
fi
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || { echo "python3 is needed to install MLflow ($PY not found)" >&2; exit 1; }
mkdir -p "$(dirname "$VENV")"
# A half-finished install (interrupted download) fails the check above and is
# rebuilt from scratch; the marker is written only after the install succeeded.
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "mlflow==${MLFLOW_VERSION}"
"$VENV/bin/mlflow" --version
touch "$VENV/.installed"
