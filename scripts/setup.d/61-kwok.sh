#!/usr/bin/env bash
# kwok (sigs.k8s.io/kwok, "Kubernetes WithOut Kubelet"): simulated nodes for the
# local cluster of `npm run cluster` (tools/cluster/). kwok acts as the kubelet
# of the nodes it manages: they turn Ready, and pods scheduled to them become
# Running and Ready, without a container runtime.
#
# Only the `kwok` binary is built (kwokctl, which downloads release binaries
# and images, is not used here). Its go.mod has no replace directives, so a
# plain `go install` from the Go module proxy works.
#
# kwok does nothing without "stages" (what happens to a node or pod, and
# when). The ones `kwokctl` uses by default (node-initialize,
# node-heartbeat-with-lease, pod-ready, pod-complete, pod-delete) are copied
# out of the downloaded module's kustomize/stage/ into $KWOK_CACHE/stages/.
#
# Idempotent and cached in $KWOK_CACHE (default
# ~/.cache/gitops-ml/kwok-<version>/{bin/kwok,stages/}): installed into a
# temporary folder that becomes bin/ only once the binary runs and the stages
# are copied; a version bump builds anew, and so does a cache that differs
# from the sha256 recorded when it was built.
set -euo pipefail
source "$(dirname "$0")/common.bash"

KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
KWOK_CACHE="${KWOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/kwok-$KWOK_VERSION}"
BIN="$KWOK_CACHE/bin/kwok"

STAGES=(node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease
  pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete)

if [ -x "$BIN" ] && [ -f "$KWOK_CACHE/stages/pod-delete.yaml" ] \
  && cache_verify "$KWOK_CACHE" "kwok $KWOK_VERSION" bin stages; then
  echo "kwok $KWOK_VERSION already built: $BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build kwok (from the Go module proxy)" >&2; exit 1; }

echo "building kwok $KWOK_VERSION (cold: about 260 CPU seconds, 2-3 minutes on 2 idle cores)..."
start=$(date +%s)
OUT="$KWOK_CACHE/bin.partial"
rm -rf "$OUT"; mkdir -p "$OUT"
# The version stamp kwok's own release build sets (hack/releases.sh).
CGO_ENABLED=0 GOBIN="$OUT" GOFLAGS="-buildvcs=false" go install -trimpath \
  -ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
  "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
"$OUT/kwok" --version
KDIR="$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
mkdir -p "$OUT/stages"
for s in "${STAGES[@]}"; do cp "$KDIR/kustomize/stage/$s.yaml" "$OUT/stages/"; done
chmod -R u+w "$OUT/stages"
rm -rf "$KWOK_CACHE/bin" "$KWOK_CACHE/stages"
mv "$OUT/stages" "$KWOK_CACHE/stages"
mv "$OUT" "$KWOK_CACHE/bin"
cache_record "$KWOK_CACHE" bin stages
echo "built $BIN in $(( $(date +%s) - start ))s"
