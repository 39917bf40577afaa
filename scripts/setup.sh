#!/usr/bin/env bash
# One-time set-up of a fresh machine for the tests: npm packages, then each
# step in scripts/setup.d/ in name order (Debian packages, the MLflow test
# server from PyPI into a cached venv, Go-built tools). Every step is
# idempotent and caches under .cache/ (or ~/.cache), so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
total=$SECONDS
echo "==> npm ci"
npm ci --no-audit --no-fund
echo "<== npm ci: $((SECONDS - total)) s"
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  echo "==> $step"
  t=$SECONDS
  bash "$step"
  echo "<== $step: $((SECONDS - t)) s"
done
echo "==> set-up done in $((SECONDS - total)) s"
