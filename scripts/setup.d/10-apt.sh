#!/usr/bin/env bash
# Debian packages the tests use that no other step installs: fonts for the
# plots, and buildah (serving/image.e2e.test.ts: a COPY-only daemonless build of
# the serving image's files, compared with the tree derived from the Dockerfile;
# 12 packages, 15.8 MB, about 20 s on a fresh Debian 12).
set -euo pipefail
source "$(dirname "$0")/common.bash"
apt_install fonts-dejavu-core buildah
