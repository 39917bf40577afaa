#!/usr/bin/env bash
# SeaweedFS (github.com/seaweedfs/seaweedfs, Apache-2.0): the S3-compatible
# object store of the tests (testing/object-store.ts) and of `npm run cluster`
# (tools/cluster/). One `weed` binary; `weed mini` runs master, volume, filer
# and the S3 gateway in one process. Why SeaweedFS and not MinIO:
# docs/object-store.md.
#
# The Go module proxy serves SeaweedFS only as a pseudo-version (the project
# tags its releases without Go's `v` prefix), so the commit is pinned. Its
# go.mod has a replace directive, so it cannot be `go install`ed: like
# 62-argocd.sh we write a tiny wrapper module that requires it and copies that
# replace, then build github.com/seaweedfs/seaweedfs/weed from it, with the
# ldflags of upstream's release build and none of its optional build tags
# (elastic, rclone, tikv, ... are filer backends we do not use).
#
# Idempotent and cached in $SEAWEEDFS_CACHE (default
# ~/.cache/gitops-ml/seaweedfs-<version>/bin/weed): built into a temporary
# folder that replaces bin/ only once the binary answers `weed version`; a
# version bump builds anew, and so does a binary that differs from the sha256
# recorded when it was built.
set -euo pipefail
source "$(dirname "$0")/common.bash"

# 4.53 (weed/util/version/constants.go of this commit), 2026-11-09.
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
SEAWEEDFS_CACHE="${SEAWEEDFS_CACHE:-$GITOPS_ML_CACHE/seaweedfs-$SEAWEEDFS_VERSION}"
BIN="$SEAWEEDFS_CACHE/bin/weed"

if [ -x "$BIN" ] && cache_verify "$SEAWEEDFS_CACHE" "seaweedfs $SEAWEEDFS_VERSION" bin; then
  echo "seaweedfs $SEAWEEDFS_VERSION already built: $BIN"
  exit 0
fi
SRC="$SEAWEEDFS_CACHE/src"
go_build_dir "SeaweedFS" local "$SRC"

echo "building seaweedfs $SEAWEEDFS_VERSION (cold: about 530 CPU seconds, 12 minutes on 2 shared cores)..."
start=$(date +%s)
go_module "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION"
wrapper_go_mod gitops-ml.local/seaweedfs "github.com/seaweedfs/seaweedfs" "$SEAWEEDFS_VERSION" > go.mod
go get "github.com/seaweedfs/seaweedfs/weed@$SEAWEEDFS_VERSION"
COMMIT="${SEAWEEDFS_VERSION##*-}"
OUT="$SEAWEEDFS_CACHE/bin.partial"
rm -rf "$OUT"; mkdir -p "$OUT"
go build -trimpath -ldflags="-s -w -X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=$COMMIT" \
  -o "$OUT/weed" github.com/seaweedfs/seaweedfs/weed
"$OUT/weed" version
rm -rf "$SEAWEEDFS_CACHE/bin"
mv "$OUT" "$SEAWEEDFS_CACHE/bin"
cache_record "$SEAWEEDFS_CACHE" bin
echo "built $BIN in $(( $(date +%s) - start ))s"
