#!/usr/bin/env bash
# Debian packages the tests use that no other step installs: fonts for the
# plots. (Podman, which builds and runs the images, is 75-podman.sh.)
set -euo pipefail
source "$(dirname "$0")/common.bash"
apt_install fonts-dejavu-core
