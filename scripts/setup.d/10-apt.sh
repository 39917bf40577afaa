#!/usr/bin/env bash
# Debian packages the tests use that no other step installs.
set -euo pipefail
source "$(dirname "$0")/common.bash"
apt_install fonts-dejavu-core
