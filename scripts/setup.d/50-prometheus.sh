#!/usr/bin/env bash
# Prometheus and promtool (Debian's `prometheus` package, 2.42) for the
# monitoring tests: `promtool check/test rules` and a real Prometheus that
# scrapes a local target (monitoring/testing/prometheus.ts). The package's
# service is not started: the tests start their own on a loopback port.
set -euo pipefail
PKGS=(prometheus)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
promtool --version 2>&1 | head -n 1
