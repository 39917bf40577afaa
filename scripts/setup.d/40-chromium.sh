#!/usr/bin/env bash
# Headless Chromium (Debian package `chromium`, /usr/bin/chromium) for the web
# page test serving/page.e2e.test.ts, driven by playwright-core (an npm
# dependency; it never downloads a browser of its own here).
set -euo pipefail
PKGS=(chromium fonts-dejavu-core)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
test -x /usr/bin/chromium && dpkg-query -W chromium
