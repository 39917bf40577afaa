#!/usr/bin/env bash
# Headless Chromium (Debian package `chromium`, /usr/bin/chromium) for the web
# page test serving/page.e2e.test.ts, driven by playwright-core (an npm
# dependency; it never downloads a browser of its own here).
set -euo pipefail
source "$(dirname "$0")/common.bash"
apt_install chromium fonts-dejavu-core
test -x /usr/bin/chromium && dpkg-query -W chromium
