#!/usr/bin/env bash
# Tools for rendering and checking the GitOps side (gitops, .github/workflows):
#   - Kustomize 5.7 or newer: `kubectl kustomize` when a kubectl with it is on
#     PATH (kubectl 1.34+); otherwise `kustomize` built from the Go module proxy.
#     (Debian's own kubernetes-client is 1.20 with Kustomize v2, too old for
#     `patches:`; Kustomize before 5.7 panics on an environment's "no model
#     yet" pin, whose one patch file deletes several objects: gitops/tools.ts.)
#   - actionlint, built from the Go module proxy.
# Both land in $GITOPS_TOOLS_BIN (default ~/.cache/gitops-ml/bin), where
# gitops/tools.ts looks for them when they are not on PATH.
# Idempotent: a tool already there at the wanted version, with the sha256
# recorded when it was built, is not rebuilt.
set -euo pipefail
source "$(dirname "$0")/common.bash"

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.1}"
# v5.8.2+ need Go 1.27; keep a version the machine's Go (1.26) builds without downloading a toolchain.
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
BIN="${GITOPS_TOOLS_BIN:-$HOME/.cache/gitops-ml/bin}"
mkdir -p "$BIN"

need_go() {
  command -v go >/dev/null 2>&1 || { echo "go is required to build $1 (from the Go module proxy)" >&2; exit 1; }
}

# go install into a versioned folder, then link it, so that a version bump rebuilds.
go_tool() { # name module version
  local name="$1" module="$2" version="$3" dir="$BIN/.$1-$3"
  if [ -x "$dir/$name" ] && cache_verify "$dir" "$name $version" "$name"; then
    ln -sfn "$dir/$name" "$BIN/$name"
    echo "$name $version already built: $BIN/$name"
    return
  fi
  need_go "$name"
  echo "building $name $version..."
  mkdir -p "$dir"
  rm -f "$dir/$name" # go install may keep a binary it takes for up to date
  CGO_ENABLED=0 GOBIN="$dir" GOFLAGS="-buildvcs=false" go install -trimpath -ldflags="-s -w" "$module@$version"
  cache_record "$dir" "$name"
  ln -sfn "$dir/$name" "$BIN/$name"
  echo "built $BIN/$name"
}

# 1. Kustomize.
kubectl_kustomize() { # prints kubectl's Kustomize version (e.g. 5.7.1), or nothing
  command -v kubectl >/dev/null 2>&1 || return 0
  kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v//p'
}
at_least_5_7() { [ -n "$1" ] && [ "$(printf '%s\n' 5.7.0 "$1" | sort -V | head -n 1)" = 5.7.0 ]; }
if at_least_5_7 "$(kubectl_kustomize)"; then
  echo "kubectl with Kustomize $(kubectl_kustomize) found: $(command -v kubectl)"
else
  go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
fi

# 2. actionlint.
go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
"$BIN/actionlint" -version | head -n 1
