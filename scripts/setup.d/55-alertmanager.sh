#!/usr/bin/env bash
# Alertmanager and amtool (Debian's `prometheus-alertmanager` package) for
# monitoring/alertmanager: `amtool check-config` and a real Alertmanager that
# posts a drift alert to the alert relay. The package's service is not
# started: the test starts its own on a loopback port.
set -euo pipefail
PKGS=(prometheus-alertmanager)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
amtool --version 2>&1 | head -n 1
