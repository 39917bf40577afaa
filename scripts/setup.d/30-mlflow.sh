#!/usr/bin/env bash
# MLflow tracking server from PyPI, for the tracking e2e tests
# (testing/mlflow.ts starts it on a loopback port with a SQLite backend
# store and a temp artifact root, or with its artifacts in the object store:
# boto3 is what MLflow's s3:// artifact repository uses). Installed once into
# a cached virtualenv
#   ~/.cache/gitops-ml/mlflow-<version>-boto3-<version>
# and reused while `mlflow --version` answers the pinned version and boto3
# imports at its pinned version. Override the location with
# GITOPS_ML_MLFLOW_VENV (the tests read the same variable). The first install
# downloads a few hundred MB and takes minutes.
# Pinned to 3.17.2: mlflow 3.18.0 needs mlflow-skinny==3.18.0, not yet on PyPI here.
set -euo pipefail
source "$(dirname "$0")/common.bash"
MLFLOW_VERSION="${MLFLOW_VERSION:-3.17.2}"
BOTO3_VERSION="${BOTO3_VERSION:-1.44.18}"
VENV="${GITOPS_ML_MLFLOW_VENV:-$GITOPS_ML_CACHE/mlflow-${MLFLOW_VERSION}-boto3-${BOTO3_VERSION}}"
python_venv "$VENV" \
  "'$VENV/bin/mlflow' --version | grep -q '$MLFLOW_VERSION' && '$VENV/bin/python' -c 'import boto3, sys; sys.exit(boto3.__version__ != \"$BOTO3_VERSION\")'" \
  "mlflow==${MLFLOW_VERSION}" "boto3==${BOTO3_VERSION}"
