#!/usr/bin/env bash
# Argo Rollouts for the local cluster of `npm run cluster -- up --with rollouts`
# (tools/cluster/): its controller (cmd/rollouts-controller), run as a local
# process against the local kube-apiserver, and its CRDs (Rollout,
# AnalysisTemplate, AnalysisRun, ClusterAnalysisTemplate, Experiment).
#
# github.com/argoproj/argo-rollouts cannot be `go install`ed because its
# go.mod has replace directives (the k8s.io/* staging modules pinned to
# v0.29.3, two forks), so, as 62-argocd.sh does for Argo CD, we write a tiny
# wrapper module that requires it and copies that replace block, then build
# github.com/argoproj/argo-rollouts/cmd/rollouts-controller from it. v1.8.5 is
# the newest v1.8 release; its go.mod asks for Go 1.23.4, which the machine's
# Go builds (GOTOOLCHAIN=local: no toolchain download).
#
# The CRDs come from Argo Rollouts itself: manifests/crds/*.yaml copied out of
# the downloaded module (not a trimmed copy) into $ARGO_ROLLOUTS_CACHE/crds.
#
# Cold build, measured on the shared 2-core machine (load average about 7,
# an empty Go build cache, its modules downloaded in the same run: k8s.io/*
# v0.29.3 is a module graph no other step uses): 400 CPU seconds (318 user +
# 81 system), 7 min 47 s wall. A second run finds the binary and the CRDs and
# exits at once. Only `npm run cluster -- up --with rollouts` and the canary
# test (scripts/canary.e2e.test.ts) need it.
#
# Idempotent and cached in $ARGO_ROLLOUTS_CACHE (default
# ~/.cache/gitops-ml/argo-rollouts-<version>): built into a temporary folder
# that replaces bin/ and crds/ only once everything is in place; a version
# bump builds anew, and so does a cache that differs from the sha256 recorded
# when it was built.
set -euo pipefail
source "$(dirname "$0")/common.bash"

ARGO_ROLLOUTS_VERSION="${ARGO_ROLLOUTS_VERSION:-v1.8.5}"
ARGO_ROLLOUTS_CACHE="${ARGO_ROLLOUTS_CACHE:-$GITOPS_ML_CACHE/argo-rollouts-$ARGO_ROLLOUTS_VERSION}"
MOD=github.com/argoproj/argo-rollouts

if [ -x "$ARGO_ROLLOUTS_CACHE/bin/rollouts-controller" ] && [ -f "$ARGO_ROLLOUTS_CACHE/crds/rollout-crd.yaml" ] \
  && [ -f "$ARGO_ROLLOUTS_CACHE/crds/analysis-template-crd.yaml" ] \
  && cache_verify "$ARGO_ROLLOUTS_CACHE" "argo-rollouts $ARGO_ROLLOUTS_VERSION" bin crds; then
  echo "argo-rollouts $ARGO_ROLLOUTS_VERSION already built: $ARGO_ROLLOUTS_CACHE/bin/rollouts-controller"
  exit 0
fi
SRC="$ARGO_ROLLOUTS_CACHE/src"
go_build_dir "Argo Rollouts" "${ARGO_ROLLOUTS_GOTOOLCHAIN:-local}" "$SRC"

echo "building argo-rollouts $ARGO_ROLLOUTS_VERSION (cold: about 400 CPU seconds, 4 minutes on 2 idle cores)..."
start=$(date +%s)
go_module "$MOD@$ARGO_ROLLOUTS_VERSION"
RDIR="$MOD_DIR"

wrapper_go_mod gitops-ml.local/argo-rollouts "$MOD" "$ARGO_ROLLOUTS_VERSION" > go.mod

# The version stamps its Makefile sets (utils/version).
PKG=$MOD/utils/version
LDFLAGS="-s -w -X $PKG.version=${ARGO_ROLLOUTS_VERSION#v} -X $PKG.gitTag=$ARGO_ROLLOUTS_VERSION -X $PKG.gitTreeState=clean -X $PKG.gitCommit=$ARGO_ROLLOUTS_VERSION"
go get "$MOD/cmd/rollouts-controller@$ARGO_ROLLOUTS_VERSION"
OUT="$ARGO_ROLLOUTS_CACHE/partial"
rm -rf "$OUT"; mkdir -p "$OUT/bin"
go build -trimpath -ldflags="$LDFLAGS" -o "$OUT/bin/rollouts-controller" "$MOD/cmd/rollouts-controller"
"$OUT/bin/rollouts-controller" --version
cp -r "$RDIR/manifests/crds" "$OUT/crds"
chmod -R u+w "$OUT/crds"
rm -rf "$ARGO_ROLLOUTS_CACHE/bin" "$ARGO_ROLLOUTS_CACHE/crds"
mv "$OUT/bin" "$ARGO_ROLLOUTS_CACHE/bin"
mv "$OUT/crds" "$ARGO_ROLLOUTS_CACHE/crds"
rmdir "$OUT"
cache_record "$ARGO_ROLLOUTS_CACHE" bin crds
echo "built $ARGO_ROLLOUTS_CACHE/bin/rollouts-controller in $(( $(date +%s) - start ))s"
