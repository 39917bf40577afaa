#!/usr/bin/env bash
# Prometheus and promtool (Debian's `prometheus` package, 2.42) for the
# monitoring tests: `promtool check/test rules` and a real Prometheus that
# scrapes a local target (testing/monitoring/prometheus.ts). The package's
# service is not started: the tests start their own on a loopback port.
set -euo pipefail
source "$(dirname "$0")/common.bash"
apt_install prometheus
promtool --version 2>&1 | head -n 1
