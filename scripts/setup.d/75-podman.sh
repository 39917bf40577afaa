#!/usr/bin/env bash
# Podman, to build and run the images of serving/Dockerfile for real
# (serving/image.e2e.test.ts), and mmdebstrap, which makes their base image
# (76-node-base-image.sh): Debian 12's podman 4.3 with runc (crun, podman's
# first choice, fails where cgroups are in hybrid mode) and iptables (the
# default bridge network and its port mappings). How podman is run (storage
# and configuration under ~/.cache/gitops-ml/containers): tools/containers/podman.ts.
set -euo pipefail
source "$(dirname "$0")/common.bash"
apt_install podman runc iptables mmdebstrap
