#!/usr/bin/env bash
# Alertmanager and amtool (Debian's `prometheus-alertmanager` package) for
# monitoring/alertmanager: `amtool check-config` and a real Alertmanager that
# posts a drift alert to the alert relay. The package's service is not
# started: the test starts its own on a loopback port.
set -euo pipefail
source "$(dirname "$0")/common.bash"
apt_install prometheus-alertmanager
amtool --version 2>&1 | head -n 1
